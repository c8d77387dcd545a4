fn main() -> std::process::ExitCode {
    cargo_janitor::main()
}
