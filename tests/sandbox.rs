//! The sandbox really isolates: a fresh network namespace has only `lo`, and
//! /run starts empty.
use netloom::sandboxed;

#[test]
fn reexec_runs_in_private_namespaces() {
    sandboxed!("reexec_runs_in_private_namespaces");
    // Devices are symlinks; the bonding driver adds a plain file (bonding_masters).
    let links: Vec<_> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_symlink())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(links, vec!["lo".to_string()]);
    assert_eq!(std::fs::read_dir("/run").unwrap().count(), 0);
}

#[test]
fn holder_sandbox_is_shared_by_its_commands() {
    let sb = netloom::sandbox::Sandbox::new().unwrap();
    let out = sb
        .command("sh")
        .args([
            "-c",
            "mkdir -p /run/x && ls /sys/class/net | grep -v bonding_masters",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "lo");
    let out = sb.command("ls").arg("/run").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "x");
    assert!(
        !std::path::Path::new("/run/x").exists(),
        "sandbox /run leaked to the machine"
    );
}
