//! netloom-cni: netloom as a CNI plugin. Reads the CNI_* environment and
//! the network configuration on stdin, prints the result (or the error
//! result) on stdout, exits 0 on success; see docs/cni.md.
use std::io::Read;

fn main() {
    let vars: netloom::cni::Vars = std::env::vars().collect();
    let mut stdin = Vec::new();
    // Only VERSION may come without a configuration.
    let read = std::io::stdin().read_to_end(&mut stdin);
    let out = match read {
        Ok(_) => netloom::cni::run(&vars, &stdin, &netloom::cni::state_root()),
        Err(e) => {
            let err = netloom::cni::CniError::new(
                netloom::cni::error::IO_FAILURE,
                "cannot read the configuration on stdin",
            )
            .with(e.to_string());
            netloom::cni::Outcome {
                stdout: err.to_json(netloom::cni::version::NEWEST),
                code: 1,
                error: Some(err),
            }
        }
    };
    netloom::timing::report();
    if let Some(e) = &out.error {
        eprintln!("netloom-cni: {e}");
    }
    print!("{}", out.stdout);
    std::process::exit(out.code);
}
