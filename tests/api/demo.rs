//! `orakel demo`, the study archive and the offline report, run as the binary is run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::helpers::*;
use crate::on_both;
use crate::report::{get_bytes, pdf_text, reference};

struct Demo {
    child: Child,
    lines: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_demo(db: &TestDb) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orakel"))
        .arg("demo")
        .current_dir(&db.dir)
        .env("ORAKEL__DATABASE__URL", &db.url)
        .env("ORAKEL__SERVER__PORT", "0")
        .env("ORAKEL__LOG__LEVEL", "warn")
        .env("ORAKEL__MAIL__DIR", db.dir.join("mail"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    // The fifth line, when the study was just made; do not wait for it otherwise.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = out.read_line(&mut rest);
    });
    Demo { child, lines }
}

fn url_after(lines: &[String], label: &str) -> String {
    let line = lines
        .iter()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label:?} in {lines:#?}"));
    line.split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap()
        .to_string()
}

on_both!(the_demo_is_the_reference_study, |backend| {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let demo = run_demo(&db);
    assert!(
        demo.lines[0].starts_with("Orakel demo is ready at http://127.0.0.1:"),
        "{:#?}",
        demo.lines
    );
    let base = url_after(&demo.lines, "ready at");
    let funder = url_after(&demo.lines, "Funder report");
    let expert = url_after(&demo.lines, "expert's link");
    let mut c = Client::new(&base);
    let page = c.get(&funder);
    assert_eq!(page.status, 200);
    // Table 3 of the reference study, in theme order.
    let means: Vec<String> = page
        .body
        .split("<td class=\"num\"><strong>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(
        means,
        [
            "3,8", "3,6", "3,0", "3,1", "1,9", "2,8", "2,1", "2,8", "3,2", "2,1", "3,0", "2,3",
            "2,1"
        ]
    );
    assert!(
        page.body
            .contains("Fundet: 17, Inviteret: 17, Takket ja: 12, Svarede i runde 2: 9"),
        "the flow 17 → 12 → 9"
    );
    assert!(page.body.contains("Kendalls W = 0,338"));
    assert!(
        page.body.contains("&lt;3"),
        "the composition table hides its small cells"
    );
    assert!(
        page.body.contains("Tema 1, 2, 3, 4 og 9") || page.body.contains("tema 1, 2, 3, 4 og 9")
    );
    for name in [
        "Mette Kjærgaard",
        "Niels Ravn",
        "kjaergaard",
        "Midtby Kommune",
    ] {
        assert!(!page.body.contains(name), "the funder's page names {name}");
    }
    let (s, ct, pdf) = get_bytes_url(&format!("{funder}/report.pdf"));
    assert_eq!((s, ct.as_str()), (200, "application/pdf"));
    if let Some((pages, text)) = pdf_text(&pdf) {
        assert!(pages >= 2);
        assert!(
            text.contains("3,8") && text.contains("Kendalls W = 0,338"),
            "{text}"
        );
        assert!(!text.contains("Mette Kjærgaard"));
    }
    let (s, _, xlsx) = get_bytes_url(&format!("{funder}/report.xlsx"));
    assert_eq!(s, 200);
    assert!(
        zip::ZipArchive::new(std::io::Cursor::new(xlsx)).is_ok(),
        "the XLSX opens"
    );
    // The expert's link opens an open feedback round.
    let page = c.get(&expert);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Åbn runde 3"), "{}", page.body);
    let token = expert.rsplit('/').next().unwrap();
    let round = c
        .get(&format!("/api/v1/participation/{token}/rounds/3"))
        .json();
    assert_eq!(
        round["categories"][0]["themes"][0]["feedback"]["counts"],
        json!([0, 0, 0, 2, 7])
    );
    // The printed credentials log in.
    let r = c.login(orakel::demo::EMAIL, orakel::demo::PASSWORD);
    assert_eq!(r.status, 303);
    let studies = c.get("/api/v1/studies").json();
    assert_eq!(studies.as_array().unwrap().len(), 1);
    let study = studies[0]["id"].as_str().unwrap().to_string();
    let cands = c
        .get(&format!("/api/v1/studies/{study}/candidates?limit=1000"))
        .json()["items"]
        .clone();
    let count = |s: &str| {
        cands
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["status"] == s)
            .count()
    };
    assert_eq!(
        (
            cands.as_array().unwrap().len(),
            count("accepted"),
            count("declined"),
            count("no_reply")
        ),
        (17, 12, 3, 2)
    );
    // Round 1's interviews are coded into the themes by two researchers who mostly agree, and
    // a statement leads back to its passage.
    let transcripts = c
        .get(&format!("/api/v1/studies/{study}/transcripts"))
        .json();
    assert_eq!(transcripts.as_array().unwrap().len(), 3, "{transcripts}");
    let coders = c
        .get(&format!("/api/v1/studies/{study}/coding/coders"))
        .json();
    let ids: Vec<&str> = coders
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{coders}");
    let agreement = c
        .get(&format!(
            "/api/v1/studies/{study}/coding/agreement?a={}&b={}",
            ids[0], ids[1]
        ))
        .json();
    assert_eq!(agreement["transcripts"], 3, "{agreement}");
    let kappa = agreement["overall_kappa"].as_f64().unwrap();
    assert!(kappa > 0.7 && kappa < 1.0, "{kappa}");
    let book = c.get(&format!("/api/v1/studies/{study}/codebook")).json();
    let theme = book["categories"][0]["themes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let evidence = c.get(&format!("/api/v1/themes/{theme}/evidence")).json();
    assert!(
        evidence.to_string().contains("tage samtalen tidligt"),
        "{evidence}"
    );
    // Each round on dates of its own: the interviews weeks before the rating, the feedback
    // round open now.
    let rounds = c.get(&format!("/api/v1/studies/{study}/rounds")).json();
    let opened: Vec<chrono::DateTime<chrono::Utc>> = rounds
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["opened_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(opened.len(), 3);
    assert!(
        opened[0] + chrono::Duration::days(30) < opened[1]
            && opened[1] + chrono::Duration::days(20) < opened[2],
        "{rounds}"
    );
    // The e-mails link to where the server listens (port 0 here), as no public_url was set.
    let mail_dir = db.dir.join("mail");
    let mut linked = false;
    for _ in 0..50 {
        linked = std::fs::read_dir(&mail_dir).is_ok_and(|d| {
            d.filter_map(Result::ok).any(|f| {
                std::fs::read_to_string(f.path()).is_ok_and(|m| {
                    crate::smtp::quoted_printable(&m).contains(&format!("{base}/p/"))
                })
            })
        });
        if linked {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        linked,
        "no e-mail in {} links to {base}",
        mail_dir.display()
    );
    drop(demo);
    // A second run finds the study and makes no other.
    let again = run_demo(&db);
    let mut c = Client::new(&url_after(&again.lines, "ready at"));
    c.login(orakel::demo::EMAIL, orakel::demo::PASSWORD);
    assert_eq!(c.get("/api/v1/studies").json().as_array().unwrap().len(), 1);
    assert_eq!(c.get(&url_after(&again.lines, "Funder report")).status, 200);
});

fn get_bytes_url(url: &str) -> (u16, String, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent.get(url).call().unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        resp.status().as_u16(),
        ct,
        resp.body_mut()
            .with_config()
            .limit(100 << 20)
            .read_to_vec()
            .unwrap(),
    )
}

on_both!(an_archive_rebuilds_the_study_and_its_report, |backend| {
    let Some(first) = TestApp::spawn(backend) else {
        return;
    };
    let (mut c, study, names) = reference(&first);
    let (s, _, archive) = get_bytes(&first, &c, &format!("/api/v1/studies/{study}/archive"));
    assert_eq!(s, 200);
    let report_before = c.get(&format!("/api/v1/studies/{study}/report")).json();
    // Another Orakel, where the same researcher has an account.
    let Some(second) = TestApp::spawn(backend) else {
        return;
    };
    let mut c2 = second.client();
    c2.token = Some(second.researcher_token("lead@example.org"));
    let r = c2.post_raw("/api/v1/archives", "application/json", &archive);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["id"], study.as_str());
    let (_, _, again) = get_bytes(&second, &c2, &format!("/api/v1/studies/{study}/archive"));
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&archive),
        "export → import → export is identical"
    );
    let mut report_after = c2.get(&format!("/api/v1/studies/{study}/report")).json();
    let mut before = report_before.clone();
    before["generated_at"] = json!(null);
    report_after["generated_at"] = json!(null);
    assert_eq!(report_after, before, "the rebuilt report is the same");
    // Importing it again is refused; so is something that is not an archive.
    assert_eq!(
        c2.post_raw("/api/v1/archives", "application/json", &archive)
            .status,
        409
    );
    assert_eq!(
        c2.post_raw(
            "/api/v1/archives",
            "application/json",
            b"{\"format\": \"nope\"}"
        )
        .status,
        422
    );
    // Without identities: no names, no addresses, the same figures.
    let (_, _, anonymous) = get_bytes(
        &first,
        &c,
        &format!("/api/v1/studies/{study}/archive?identities=false"),
    );
    let text = String::from_utf8(anonymous).unwrap();
    for n in names.iter().filter(|n| n.contains('@') || n.contains(' ')) {
        assert!(
            !text.contains(n.as_str()),
            "the anonymous archive holds {n}"
        );
    }
    assert!(text.contains("\"identities\": false"));
    // Only owners export.
    let mut other = first.api("other@example.org");
    assert_eq!(
        get_bytes(&first, &other, &format!("/api/v1/studies/{study}/archive")).0,
        404
    );
    c.put_json(
        &format!("/api/v1/studies/{study}/members"),
        &json!({"email": "other@example.org", "role": "researcher"}),
    );
    assert_eq!(
        get_bytes(&first, &other, &format!("/api/v1/studies/{study}/archive")).0,
        403
    );
    let _ = other.get("/api/v1/me");
});

on_both!(the_report_is_made_offline_too, |backend| {
    let Some(app) = TestApp::spawn(backend) else {
        return;
    };
    let (mut c, study, _) = reference(&app);
    let online = c.get(&format!("/api/v1/studies/{study}/report")).json();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_orakel"))
            .args(args)
            .current_dir(&app.db.dir)
            .env("ORAKEL__DATABASE__URL", &app.db.url)
            .env("ORAKEL__LOG__LEVEL", "warn")
            .output()
            .unwrap()
    };
    let out = run(&["report", &study, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(offline["themes"], online["themes"]);
    assert_eq!(offline["kendall"], online["kendall"]);
    let pdf = app.db.dir.join("r.pdf");
    let out = run(&[
        "report",
        &study,
        "--round",
        "1",
        "--format",
        "pdf",
        "-o",
        pdf.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let out = run(&["report", &study, "--format", "docx"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
    // The archive from the command line is the one the API gives.
    let out = run(&["export", &study]);
    assert!(out.status.success());
    let (_, _, api) = get_bytes(&app, &c, &format!("/api/v1/studies/{study}/archive"));
    assert_eq!(out.stdout, api);
});
