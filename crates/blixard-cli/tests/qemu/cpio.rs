//! A newc ("070701") cpio archive, which the kernel unpacks as an initramfs
//! as it is (no compression needed): enough of the format for directories,
//! regular files and device nodes.

/// An archive being written; [`Cpio::finish`] adds the trailer.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

const DIR: u32 = 0o040_000;
const FILE: u32 = 0o100_000;
const CHAR: u32 = 0o020_000;

impl Cpio {
    pub fn dir(&mut self, path: &str) {
        self.entry(path, DIR | 0o755, (0, 0), b"");
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, FILE | mode, (0, 0), data);
    }

    pub fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.entry(path, CHAR | mode, (major, minor), b"");
    }

    pub fn finish(mut self) -> Vec<u8> {
        // The trailer's inode is 0 by convention (the next wraps to 0).
        self.ino = u32::MAX;
        self.entry("TRAILER!!!", 0, (0, 0), b"");
        self.out
    }

    fn entry(&mut self, path: &str, mode: u32, (rmajor, rminor): (u32, u32), data: &[u8]) {
        // Names are stored without the leading slash, as `cpio -H newc` does.
        let name = path.trim_start_matches('/');
        self.ino = self.ino.wrapping_add(1);
        let nlink = if mode & DIR == DIR { 2 } else { 1 };
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            u32::try_from(data.len()).expect("initramfs files are small"),
            0, // devmajor
            0, // devminor
            rmajor,
            rminor,
            u32::try_from(name.len() + 1).expect("short name"),
            0, // check (only for the "070702" variant)
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    /// Header plus name, and the data, each end on a 4-byte boundary.
    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

#[test]
fn a_header_is_110_bytes_and_entries_are_aligned() {
    let mut c = Cpio::default();
    c.file("/a", 0o644, b"xyz");
    let out = c.finish();
    assert_eq!(&out[..6], b"070701");
    // 110-byte header + "a\0" = 112, then 3 bytes of data padded to 4.
    assert_eq!(&out[110..112], b"a\0");
    assert_eq!(&out[112..115], b"xyz");
    assert_eq!(&out[116..122], b"070701");
    assert!(out.ends_with(b"TRAILER!!!\0\0\0\0"));
    assert!(out.len().is_multiple_of(4));
}
