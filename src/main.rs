fn main() -> std::process::ExitCode {
    acme_doctor::cli::main()
}
