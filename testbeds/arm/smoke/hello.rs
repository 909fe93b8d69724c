// Toolchain smoke test: cross-compiled statically for arm64/armv7 and run in
// the qemu-system guest by testbeds/arm/selftest.sh.
use std::process::ExitCode;

fn main() -> ExitCode {
    let pid = std::process::id();
    let threads = std::thread::spawn(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0))
        .join()
        .unwrap_or(0);
    println!(
        "hello from davit testbed: arch={} os={} pid={} cpus={}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        pid,
        threads
    );
    match std::fs::read_to_string("/proc/self/status") {
        Ok(s) if s.lines().any(|l| l.starts_with("Pid:")) => ExitCode::SUCCESS,
        _ => {
            eprintln!("cannot read /proc/self/status");
            ExitCode::FAILURE
        }
    }
}
