//! Nothing outlives the host: when the host process dies (even by SIGKILL),
//! its supervisor sees the control socket close and kills every sandbox.
mod common;
use common::*;
use std::io::BufRead;
use std::time::{Duration, Instant};

const HOST: &str = r#"
import ctypes, sys, time
lib = ctypes.CDLL(sys.argv[1])
p = ctypes.c_void_p()
assert lib.sl_policy_new(ctypes.byref(p)) == 0
for d in (b"/usr", b"/lib", b"/lib64", b"/bin", b"/etc"):
    lib.sl_policy_allow_read(p, d)
argv = (ctypes.c_char_p * 3)(b"/bin/sleep", b"300", None)
c = ctypes.c_void_p()
rc = lib.sl_spawn(p, argv, ctypes.byref(c))
assert rc == 0, rc
lib.sl_child_pid.argtypes = [ctypes.c_void_p]
print(lib.sl_child_pid(c), flush=True)
time.sleep(300)
"#;

#[test]
fn killing_the_host_kills_its_sandboxes() {
    setup();
    let so = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("libsandlock.so");
    let mut host = std::process::Command::new("python3")
        .args(["-c", HOST, &so.to_string_lossy()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(host.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sandboxed: i32 = line.trim().parse().expect("child pid");
    assert!(alive(sandboxed));
    host.kill().unwrap();
    host.wait().unwrap();
    let t = Instant::now();
    while alive(sandboxed) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(sandboxed), "the sandboxed sleep outlived its host");
}
