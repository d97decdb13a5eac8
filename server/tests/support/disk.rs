//! A small disk of the test's own: a tmpfs of a set size mounted on a temporary folder,
//! which a test can fill up or remount read-only under a running server. Mounting needs
//! root; without it [`SmallDisk::mount`] gives `None`.

use std::{path::Path, process::Command};

pub struct SmallDisk {
    dir: tempfile::TempDir,
}

fn mount(args: &[&str]) -> bool {
    Command::new("mount")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

impl SmallDisk {
    /// A tmpfs of `bytes`, or `None` when this process may not mount one.
    pub fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={bytes}"),
            "tmpfs",
            &path,
        ])
        .then_some(SmallDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes the disk read-only (`true`) or writable again.
    pub fn set_read_only(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let path = self.dir.path().display().to_string();
        assert!(mount(&["-o", mode, &path]), "mount -o {mode} {path}");
    }

    /// Writes a file that takes every byte left; returns its path.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut size = chunk.len();
        while size > 0 {
            match file.write(&chunk[..size]) {
                Ok(0) | Err(_) => size /= 2,
                Ok(_) => {}
            }
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let path = self.dir.path().display().to_string();
        let _ = Command::new("umount").args(["-l", &path]).output();
    }
}
