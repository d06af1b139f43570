//! A real runtime: Debian's podman with its CNI backend runs two
//! containers from a root filesystem directory (no image registry is
//! reachable here: `--rootfs`), attached by netloom-cni; they reach each
//! other and their gateway, and removing them leaves nothing of theirs.
//!
//! What it takes on this machine (each obstacle met on the way):
//! - podman's default rlimits exceed the machine's hard limits: a
//!   containers.conf with `default_ulimits` below them;
//! - crun refuses the machine's hybrid cgroup layout ("cgroups in hybrid
//!   mode not supported") and runc cannot make its cgroup directories: in
//!   the test's own mount namespace /sys/fs/cgroup is a clean cgroup2
//!   mount, and the containers run with `--cgroups=disabled` (with cgroups
//!   on, crun then stops at setrlimit RLIMIT_MEMLOCK: EPERM);
//! - everything in the sandbox (private network and mount namespaces, its
//!   own /run), the image store in a temporary directory.
//!
//! About 3 s. Skipped (with a message) where podman is not installed;
//! test.sh installs it. Not run in the VM (no podman there).
#[path = "support/cni_util/mod.rs"]
mod cni_util;

use std::path::PathBuf;

use cni_util::Runtime;

#[test]
fn podman_runs_two_containers_attached_by_netloom_cni() {
    if !std::path::Path::new("/usr/bin/podman").exists() {
        eprintln!("skipped: podman is not installed (test.sh installs it)");
        return;
    }
    let rt = Runtime::new();
    let dir: PathBuf = std::env::temp_dir().join(format!("netloom-podman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in [
        "cni",
        "net.d",
        "storage",
        "rootfs/bin",
        "rootfs/proc",
        "rootfs/sys",
        "rootfs/dev",
        "rootfs/etc",
        "rootfs/tmp",
        "rootfs/run",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("busybox-static (test.sh installs it)");
    std::fs::copy(busybox, dir.join("rootfs/bin/busybox")).unwrap();
    for applet in ["sh", "ping", "ip", "sleep"] {
        std::os::unix::fs::symlink("busybox", dir.join("rootfs/bin").join(applet)).unwrap();
    }
    std::os::unix::fs::symlink(cni_util::plugin(), dir.join("cni/netloom-cni")).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("containers.conf"),
        format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1000:1000\"]\n\
             [network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{d}/cni\"]\nnetwork_config_dir = \"{d}/net.d\"\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"crun\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("storage.conf"),
        format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/storage\"\nrunroot = \"/run/podman-storage\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("net.d/nl.conflist"),
        r#"{"cniVersion": "1.0.0", "name": "nl", "plugins": [
            {"type": "netloom-cni", "bridge": {"name": "nlpod0", "gateway": true},
             "ipam": {"subnet": "10.88.7.0/24", "routes": [{"dst": "0.0.0.0/0"}]}}]}"#,
    )
    .unwrap();
    rt.sh_ok("mount -t cgroup2 none /sys/fs/cgroup");
    let podman = format!(
        "CONTAINERS_CONF={d}/containers.conf CONTAINERS_STORAGE_CONF={d}/storage.conf podman"
    );
    let run = |name: &str| {
        rt.sh_ok(&format!(
            "{podman} run -d --cgroups=disabled --network nl --name {name} --rootfs {d}/rootfs /bin/sleep 300"
        ))
    };
    run("a");
    run("b");
    let ip = |name: &str| {
        rt.sh_ok(&format!(
            "{podman} inspect -f '{{{{.NetworkSettings.Networks.nl.IPAddress}}}}' {name}"
        ))
        .trim()
        .to_string()
    };
    let (ipa, ipb) = (ip("a"), ip("b"));
    assert!(
        ipa.starts_with("10.88.7.") && ipb.starts_with("10.88.7.") && ipa != ipb,
        "{ipa} {ipb}"
    );
    for (from, to) in [
        ("a", ipb.as_str()),
        ("b", ipa.as_str()),
        ("a", "10.88.7.1"),
        ("b", "10.88.7.1"),
    ] {
        let out = rt.sh_ok(&format!("{podman} exec {from} ping -c1 -W2 {to}"));
        assert!(out.contains("1 packets received"), "{from} -> {to}: {out}");
    }
    // netloom-cni's own records name both attachments.
    let kept = rt.kept("cni-nl");
    assert_eq!(
        kept.lines()
            .filter(|l| l.starts_with("attachments/"))
            .count(),
        2,
        "{kept}"
    );
    rt.sh_ok(&format!("{podman} rm -f -t0 a b"));
    assert_eq!(
        rt.host_links().trim(),
        "nlpod0",
        "podman's DELs removed both host ends"
    );
    assert_eq!(rt.kept("cni-nl"), "", "and every record and reservation");
    let _ = std::fs::remove_dir_all(&dir);
}
