use sandlock::ffi::*;
use std::ffi::CString;

#[test]
fn smoke() {
    std::env::set_var("SANDLOCK_SUPERVISOR", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/libsandlock.so"));
    let mut p = std::ptr::null_mut();
    assert_eq!(sl_policy_new(&mut p), 0);
    for d in ["/usr", "/etc", "/lib", "/lib64", "/bin"] {
        let c = CString::new(d).unwrap();
        assert_eq!(sl_policy_allow_read(p, c.as_ptr()), 0);
    }
    sl_policy_set_random_seed(p, 42);
    let args: Vec<CString> = ["python3", "-c", "import os; print(os.urandom(8).hex())"].iter().map(|s| CString::new(*s).unwrap()).collect();
    let mut argv: Vec<*const i8> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let k = CString::new("PATH").unwrap(); let v = CString::new("/usr/bin:/bin").unwrap();
    sl_policy_set_env(p, k.as_ptr(), v.as_ptr());
    let mut c = std::ptr::null_mut();
    let r = sl_spawn(p, argv.as_ptr(), &mut c);
    let msg = unsafe { std::ffi::CStr::from_ptr(sl_last_error_message()) };
    assert_eq!(r, 0, "{:?}", msg);
    let mut st = 0;
    assert_eq!(sl_wait(c, &mut st), 0);
    eprintln!("status {st:#x}");
    sl_child_free(c);
    sl_policy_free(p);
}
