//! [`super::Dir`] where no implementation exists yet (Windows until its issue lands): opening
//! a root fails with `Unsupported`, so no handle, and no other call, ever exists.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::Path;

use super::{Entry, FileId, FileOptions, Filesystem, Kind, Stat};

#[derive(Debug)]
enum Never {}

#[derive(Debug)]
pub struct Dir(Never);

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "directory handles are not implemented on this platform yet",
    )
}

fn stat_of_metadata(m: &std::fs::Metadata) -> Stat {
    let ft = m.file_type();
    Stat {
        kind: if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        },
        len: m.len(),
        allocated: m.len(),
        id: FileId {
            device: 0,
            index: 0,
        },
        links: 1,
        accessed: m.accessed().unwrap_or(std::time::UNIX_EPOCH),
        modified: m.modified().unwrap_or(std::time::UNIX_EPOCH),
    }
}

pub fn lstat(path: &Path) -> io::Result<Stat> {
    path.symlink_metadata().map(|m| stat_of_metadata(&m))
}

pub fn entry_stat(entry: &std::fs::DirEntry) -> io::Result<Stat> {
    entry.metadata().map(|m| stat_of_metadata(&m))
}

pub fn file_stat(file: &File) -> io::Result<Stat> {
    file.metadata().map(|m| stat_of_metadata(&m))
}

pub fn open_noatime(_path: &Path) -> io::Result<File> {
    Err(unsupported())
}

pub fn filesystem(_path: &Path) -> io::Result<Filesystem> {
    Err(unsupported())
}

/// Nothing to keep where nothing can be listed.
#[derive(Default)]
pub struct ListBuf;

impl Dir {
    pub fn open(_path: &Path) -> io::Result<Dir> {
        Err(unsupported())
    }

    pub fn open_dir(&self, _name: &OsStr) -> io::Result<Dir> {
        match self.0 {}
    }

    pub fn stat(&self, _name: &OsStr) -> io::Result<Stat> {
        match self.0 {}
    }

    pub fn metadata(&self) -> io::Result<Stat> {
        match self.0 {}
    }

    pub fn read_once(&self, _buf: &mut ListBuf, _out: &mut Vec<Entry>) -> io::Result<()> {
        match self.0 {}
    }

    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        match self.0 {}
    }

    pub fn remove_file(&self, _name: &OsStr) -> io::Result<()> {
        match self.0 {}
    }

    pub fn remove_dir(&self, _name: &OsStr) -> io::Result<()> {
        match self.0 {}
    }

    pub fn rename(&self, _name: &OsStr, _to: &Dir, _new_name: &OsStr) -> io::Result<()> {
        match self.0 {}
    }

    pub fn replace_file(&self, _name: &OsStr, _new_name: &OsStr) -> io::Result<()> {
        match self.0 {}
    }

    pub fn create_dir(&self, _name: &OsStr) -> io::Result<()> {
        match self.0 {}
    }

    pub fn open_file(&self, _name: &OsStr, _opts: FileOptions) -> io::Result<File> {
        match self.0 {}
    }

    pub fn make_writable(&self) -> io::Result<()> {
        match self.0 {}
    }

    pub fn make_dir_accessible(&self, _name: &OsStr) -> io::Result<()> {
        match self.0 {}
    }

    pub fn try_clone(&self) -> io::Result<Dir> {
        match self.0 {}
    }
}
