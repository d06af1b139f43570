//! Reading the kernel's state in a sandbox for the ifupdown import tests,
//! in one process (each is dear under the VM's emulation).
#![allow(dead_code)]

use serde_json::Value;

use super::common::Lab;

/// The kernel's state in the sandbox, read in one go (each process is
/// dear under the VM's emulation).
pub struct Kernel {
    /// `ip -d -j link show`.
    pub links: Vec<Value>,
    /// `ip -j addr show`.
    pub addrs: Vec<Value>,
    /// `ip -j route show table all`, both families.
    pub routes: Vec<Value>,
    /// `bridge -j vlan show`.
    pub vlans: Vec<Value>,
    /// The sysctls asked for, in order.
    pub sysctls: Vec<String>,
}

pub fn read_kernel(lab: &Lab, sysctls: &[String]) -> Kernel {
    let mut script = String::from(
        "ip -d -j link show; echo '#'; ip -j addr show; echo '#'; \
         ip -4 -j route show table all; echo '#'; ip -6 -j route show table all; echo '#'; \
         bridge -j vlan show; echo '#'",
    );
    for k in sysctls {
        script.push_str(&format!(
            "; cat /proc/sys/{}; echo '#'",
            k.replace('.', "/")
        ));
    }
    let r = lab.sh(&script);
    assert_eq!(r.code, 0, "{}", r.text());
    let parts: Vec<&str> = r.out.split("#\n").collect();
    let json = |i: usize| -> Vec<Value> {
        let t = parts.get(i).map_or("", |t| t.trim());
        if t.is_empty() {
            return Vec::new();
        }
        serde_json::from_str::<Value>(t)
            .unwrap_or_else(|e| panic!("part {i}: {e}: {t}"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let mut routes = json(2);
    routes.extend(json(3));
    Kernel {
        links: json(0),
        addrs: json(1),
        routes,
        vlans: json(4),
        sysctls: parts[5..].iter().map(|t| t.trim().to_string()).collect(),
    }
}

impl Kernel {
    pub fn link(&self, name: &str) -> &Value {
        self.links
            .iter()
            .find(|l| l["ifname"] == name)
            .unwrap_or_else(|| panic!("no link {name} in the kernel"))
    }

    /// The addresses of NAME, `CIDR` each (no link-local ones).
    pub fn addrs(&self, name: &str) -> Vec<String> {
        self.addrs
            .iter()
            .filter(|l| l["ifname"] == name)
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["scope"] != "link")
            .map(|a| format!("{}/{}", text(&a["local"]), a["prefixlen"]))
            .collect()
    }

    /// The VLANs of NAME as `1P,2-10` (P: PVID and untagged; runs of
    /// consecutive tagged VLANs as ranges, whatever `bridge` printed).
    pub fn vlans(&self, name: &str) -> String {
        let list = self
            .vlans
            .iter()
            .find(|l| l["ifname"] == name)
            .and_then(|l| l["vlans"].as_array().cloned())
            .unwrap_or_default();
        let mut items: Vec<(u64, bool)> = Vec::new();
        for e in list {
            let flags = text(&e["flags"]);
            let pvid = flags.contains("PVID") && flags.contains("Egress Untagged");
            let first = e["vlan"].as_u64().unwrap();
            let last = e.get("vlanEnd").and_then(Value::as_u64).unwrap_or(first);
            items.extend((first..=last).map(|v| (v, pvid)));
        }
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let (start, p) = items[i];
            if p {
                out.push(format!("{start}P"));
                i += 1;
                continue;
            }
            let mut end = start;
            while i + 1 < items.len() && !items[i + 1].1 && items[i + 1].0 == end + 1 {
                i += 1;
                end += 1;
            }
            out.push(if end > start {
                format!("{start}-{end}")
            } else {
                start.to_string()
            });
            i += 1;
        }
        out.join(",")
    }
}

/// A JSON value as the expectation lines write it.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
