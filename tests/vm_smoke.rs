//! The VM harness works end to end: inside the VM (vm/run.sh) the guest kernel
//! has the bond and dummy drivers the host kernel lacks, and sandboxed tests
//! run there exactly as on the host.
use std::process::Command;

/// Run `ip` (iproute2) with `args`, failing the test with its stderr on error.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs a kernel with bond and dummy: runs in the VM"]
fn vm_kernel_has_bond_and_dummy() {
    netloom::sandboxed!("vm_kernel_has_bond_and_dummy");
    ip(&["link", "add", "smoke-d0", "type", "dummy"]);
    ip(&[
        "link",
        "add",
        "smoke-b0",
        "type",
        "bond",
        "mode",
        "active-backup",
    ]);
    ip(&["link", "set", "smoke-d0", "master", "smoke-b0"]);
    let details = ip(&["-d", "link", "show", "smoke-d0"]);
    assert!(details.contains("dummy"), "not a dummy: {details}");
    assert!(
        details.contains("master smoke-b0"),
        "not enslaved: {details}"
    );
    let bond = ip(&["-d", "link", "show", "smoke-b0"]);
    assert!(
        bond.contains("bond mode active-backup"),
        "not a bond: {bond}"
    );
    // max_bonds=0 / numdummies=0 in the guest: loading the drivers made no
    // devices of their own.
    let all = ip(&["-o", "link", "show"]);
    assert!(
        !all.contains("bond0") && !all.contains("dummy0"),
        "driver default devices appeared: {all}"
    );
}
