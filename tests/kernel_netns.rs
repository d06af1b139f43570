//! Kernel foundation tests (namespaces, connections, extended ACKs, sysctls)
//! against the real kernel, each in its own sandbox.
use netloom::kernel::{self, netns, sysctl, Kernel, KernelError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netns_create_open_list_delete() {
    netloom::sandboxed!("netns_create_open_list_delete");
    assert_eq!(netns::list().unwrap(), Vec::<String>::new());
    let ns = netns::create("t1").unwrap();
    assert_eq!(ns.name(), Some("t1"));
    assert!(netns::create("t1").unwrap_err().errno() == Some(libc::EEXIST));
    assert_eq!(netns::list().unwrap(), vec!["t1".to_string()]);
    // The new namespace is a different one from ours.
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let inside = netns::run_in(&ns, || std::fs::read_link("/proc/thread-self/ns/net"))
        .unwrap()
        .unwrap();
    assert_ne!(own, inside);
    // And the calling thread did not move.
    assert_eq!(std::fs::read_link("/proc/thread-self/ns/net").unwrap(), own);
    assert!(netns::open("t1").unwrap().is_some());
    netns::delete("t1").unwrap();
    assert!(netns::open("t1").unwrap().is_none());
    assert_eq!(netns::list().unwrap(), Vec::<String>::new());
    netns::delete("t1").unwrap();
}

/// create_with makes the namespace on the calling thread: `f` runs inside
/// the new namespace, and the thread is back home afterwards, even when `f`
/// panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_runs_f_inside_and_the_thread_goes_home() {
    netloom::sandboxed!("create_runs_f_inside_and_the_thread_goes_home");
    let here = || std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let own = here();
    let (ns, inside) = netns::create_with("t1", here).unwrap();
    assert_ne!(inside, own);
    assert_eq!(here(), own);
    let of_ns = netns::run_in(&ns, here).unwrap();
    assert_eq!(inside, of_ns);
    let panicked =
        std::panic::catch_unwind(|| netns::create_with("t2", || -> () { panic!("inside t2") }));
    assert!(panicked.is_err());
    assert_eq!(here(), own);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_nodes_connect_inside_their_namespace() {
    netloom::sandboxed!("kernel_nodes_connect_inside_their_namespace");
    use futures::TryStreamExt;
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    assert!(k.node("a").await.unwrap().is_none());
    let a = k.create_node("a").await.unwrap();
    assert_eq!(a.netns.name(), Some("netloom-t.a"));
    // A link made through the node's handle appears only in that namespace.
    a.handle
        .link()
        .add(rtnetlink::LinkVeth::new("x0", "x1").build())
        .execute()
        .await
        .unwrap();
    let names = |h: rtnetlink::Handle| async move {
        let links: Vec<_> = h.link().get().execute().try_collect().await.unwrap();
        let mut n: Vec<String> = links
            .iter()
            .flat_map(|l| l.attributes.iter())
            .filter_map(|a| match a {
                rtnetlink::packet_route::link::LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(a.handle.clone()).await, vec!["lo", "x0", "x1"]);
    let host = k.node("host").await.unwrap().unwrap();
    assert!(!names(host.handle.clone()).await.contains(&"x0".to_string()));
    assert!(k.node("a").await.unwrap().is_some());
    k.delete_node("a").await.unwrap();
    assert!(k.node("a").await.unwrap().is_none());
    // Deleted behind the Kernel's back: the cached connection is not served.
    k.create_node("b").await.unwrap();
    assert!(k.node("b").await.unwrap().is_some());
    netns::delete("netloom-t.b").unwrap();
    assert!(k.node("b").await.unwrap().is_none());
    // Re-created behind its back: the new namespace is served, not the old one.
    k.create_node("c").await.unwrap();
    let old = k.node("c").await.unwrap().unwrap();
    netns::delete("netloom-t.c").unwrap();
    netns::create("netloom-t.c").unwrap();
    let new = k.node("c").await.unwrap().unwrap();
    assert!(new.netns.is_bound().unwrap());
    assert!(!old.netns.is_bound().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_request_carries_the_kernels_text() {
    netloom::sandboxed!("refused_request_carries_the_kernels_text");
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    let a = k.create_node("a").await.unwrap();
    // VXLAN with an IPv4 local and an IPv6 remote: the kernel refuses with an extack text.
    let msg = rtnetlink::LinkVxlan::new("vx0", 5)
        .local(std::net::Ipv4Addr::new(10, 0, 0, 1))
        .remote6("2001:db8::1".parse().unwrap())
        .build();
    let err = a.handle.link().add(msg).execute().await.unwrap_err();
    let err = kernel::conn::map_err(err, "node a link vx0", "create link");
    match &err {
        KernelError::Netlink { errno, message, .. } => {
            assert_eq!(*errno, libc::EINVAL);
            let strerror = "Invalid argument";
            assert_ne!(message, &strerror, "no extack text: {err}");
            assert!(message.contains("family"), "{err}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // A macvlan on a bridge port: refused (EBUSY) without an extack text.
    let h = a.handle.link();
    h.add(rtnetlink::LinkBridge::new("br0").build())
        .execute()
        .await
        .unwrap();
    h.add(rtnetlink::LinkVeth::new("p0", "p1").build())
        .execute()
        .await
        .unwrap();
    let index = |name: &'static str| {
        let h = a.handle.clone();
        async move {
            use futures::TryStreamExt;
            let m = h
                .link()
                .get()
                .match_name(name.to_string())
                .execute()
                .try_next()
                .await
                .unwrap()
                .unwrap();
            m.header.index
        }
    };
    let (br, p0) = (index("br0").await, index("p0").await);
    h.set(
        rtnetlink::LinkUnspec::new_with_index(p0)
            .controller(br)
            .build(),
    )
    .execute()
    .await
    .unwrap();
    let msg = rtnetlink::LinkMacVlan::new(
        "mv0",
        p0,
        rtnetlink::packet_route::link::MacVlanMode::Bridge,
    )
    .build();
    let err = h.add(msg).execute().await.unwrap_err();
    let err = kernel::conn::map_err(err, "node a link mv0", "create link");
    eprintln!("{err}");
    match &err {
        KernelError::Netlink { errno, message, .. } => {
            assert_eq!(*errno, libc::EBUSY);
            // The kernel sends no text for this one: strerror stands in.
            assert_eq!(message, "Device or resource busy");
        }
        other => panic!("unexpected {other:?}"),
    }
    // A VXLAN without VNI: a missing-attribute extack.
    let msg = rtnetlink::LinkMessageBuilder::<rtnetlink::LinkVxlan>::new("vx1").build();
    let err = a.handle.link().add(msg).execute().await.unwrap_err();
    let err = kernel::conn::map_err(err, "node a link vx1", "create link");
    eprintln!("{err}");
    assert!(matches!(&err, KernelError::Netlink { message, .. } if message != "Invalid argument"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysctl_read_write_inside_a_node() {
    netloom::sandboxed!("sysctl_read_write_inside_a_node");
    let a = netns::create("s1").unwrap();
    let host = netns::current().unwrap();
    assert_eq!(
        sysctl::read(&a, "net.ipv4.ip_forward").unwrap().as_deref(),
        Some("0")
    );
    sysctl::write(&a, "net.ipv4.ip_forward", "1").unwrap();
    assert_eq!(
        sysctl::read(&a, "net.ipv4.ip_forward").unwrap().as_deref(),
        Some("1")
    );
    // Only that namespace changed.
    assert_eq!(
        sysctl::read(&host, "net.ipv4.ip_forward")
            .unwrap()
            .as_deref(),
        Some("0")
    );
    assert_eq!(sysctl::read(&a, "net.ipv4.no_such_key").unwrap(), None);
    assert!(sysctl::write(&a, "net.ipv4.no_such_key", "1").is_err());
    // An interface name with a dot: written with '/' in the key.
    let out = std::process::Command::new("ip")
        .args([
            "-n", "s1", "link", "add", "v.1", "type", "veth", "peer", "v.2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = "net.ipv6.conf.v/1.forwarding";
    assert_eq!(sysctl::read(&a, key).unwrap().as_deref(), Some("0"));
    sysctl::write(&a, key, "1").unwrap();
    assert_eq!(sysctl::read(&a, key).unwrap().as_deref(), Some("1"));
    assert_eq!(
        sysctl::read(&a, "net.ipv6.conf.v/2.forwarding")
            .unwrap()
            .as_deref(),
        Some("0")
    );
}
