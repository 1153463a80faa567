fn main() -> std::process::ExitCode {
    orakel::cli::main()
}
