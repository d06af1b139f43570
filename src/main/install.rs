//! `install`: the binary, shell completions (bash, zsh, fish) and man pages
//! under a prefix, all generated from the command line's own definition
//! (clap_complete, clap_mangen), so they never drift from it.
use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

/// Write everything under `prefix`; the files written, in order.
pub fn install(cmd: Command, prefix: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut put = |rel: &str, bytes: &[u8]| -> std::io::Result<()> {
        let path = prefix.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    // The binary itself, unless it runs from there already.
    let exe = std::env::current_exe()?;
    let target = prefix.join("bin/netloom");
    if std::fs::canonicalize(&exe).ok() != std::fs::canonicalize(&target).ok() {
        let bytes = std::fs::read(&exe)?;
        put("bin/netloom", &bytes)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    for (shell, rel) in [
        (Shell::Bash, "share/bash-completion/completions/netloom"),
        (Shell::Zsh, "share/zsh/site-functions/_netloom"),
        (Shell::Fish, "share/fish/vendor_completions.d/netloom.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "netloom", &mut buf);
        put(rel, &buf)?;
    }
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    put("share/man/man1/netloom.1", &buf)?;
    for sub in cmd.get_subcommands() {
        let name = format!("netloom-{}", sub.get_name());
        let page = sub.clone().name(name.clone());
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf)?;
        put(&format!("share/man/man1/{name}.1"), &buf)?;
    }
    Ok(written)
}
