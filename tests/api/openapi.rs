//! The API description as other programs read it: valid OpenAPI 3.1 by openapi-spec-validator,
//! every operation id unique and usable as a function name, every response described, and a
//! Python client generated from it by openapi-python-client that reads the caller and creates and
//! reads a study. Skipped with a printed reason when those tools (from PyPI) are missing, unless
//! `ORAKEL_REQUIRE_OPENAPI_TOOLS=1`.

use std::collections::BTreeSet;
use std::process::Command;

use crate::both_backends;
use crate::helpers::*;

fn tools_here() -> bool {
    let found = ["openapi-spec-validator", "openapi-python-client"]
        .iter()
        .all(|t| {
            Command::new(t)
                .arg("--help")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if !found {
        assert!(
            std::env::var("ORAKEL_REQUIRE_OPENAPI_TOOLS").as_deref() != Ok("1"),
            "ORAKEL_REQUIRE_OPENAPI_TOOLS=1 but the tools are missing \
             (pip install openapi-spec-validator openapi-python-client)"
        );
        eprintln!(
            "OpenAPI client check skipped: pip install openapi-spec-validator openapi-python-client"
        );
    }
    found
}

const CLIENT_SCRIPT: &str = r#"
import sys
from orakel_client import AuthenticatedClient
from orakel_client.api.accounts import get_me
from orakel_client.api.studies import create_study, get_study
from orakel_client.models import StudyInput

base, token, email = sys.argv[1:4]
client = AuthenticatedClient(base_url=base, token=token)
me = get_me.sync(client=client)
assert me.email == email, me
made = create_study.sync(client=client, body=StudyInput(title="Made by a generated client", language="en"))
read = get_study.sync(client=client, study=made.id)
assert read.title == "Made by a generated client", read
print(made.id)
"#;

both_backends!(a_generated_client_speaks_the_api, |app: &TestApp| {
    let mut c = app.api("client@example.org");
    let r = c.get("/api/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");

    // Unique ids that read as function names, and a description for every response.
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty()
                    && id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{method} {path}: operation id {id:?}"
            );
            assert!(ids.insert(id.to_string()), "operation id {id} used twice");
            for (status, resp) in op["responses"].as_object().unwrap() {
                assert!(
                    resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
    assert!(ids.len() > 90, "{} operations", ids.len());

    if !tools_here() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("orakel-openapi-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("openapi.json");
    std::fs::write(&file, &r.body).unwrap();
    let v = Command::new("openapi-spec-validator")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let out = dir.join("client");
    let g = Command::new("openapi-python-client")
        .args(["generate", "--path"])
        .arg(&file)
        .arg("--output-path")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        g.status.success() && out.join("orakel_client").is_dir(),
        "openapi-python-client: {}{}",
        String::from_utf8_lossy(&g.stdout),
        String::from_utf8_lossy(&g.stderr)
    );
    let token = c.token.clone().unwrap();
    let run = Command::new("python3")
        .arg("-c")
        .arg(CLIENT_SCRIPT)
        .args([app.base.as_str(), token.as_str(), "client@example.org"])
        .env("PYTHONPATH", &out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the generated client: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let made = String::from_utf8_lossy(&run.stdout).trim().to_string();
    let study = c.get(&format!("/api/v1/studies/{made}"));
    assert_eq!(study.status, 200, "{}", study.body);
    assert_eq!(study.json()["title"], "Made by a generated client");
    let _ = std::fs::remove_dir_all(&dir);
});
