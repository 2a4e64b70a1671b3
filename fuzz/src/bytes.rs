//! The input format of the structure-aware targets: a [`Cursor`] that reads small
//! integers and byte strings from the fuzzer's bytes (zeros once they run out, so every
//! input decodes), and a [`Writer`] that writes the same format, so the seed builder can
//! encode the operations it means.

/// Reads the fuzzer's bytes front to back. Never fails: past the end it reads zeros
/// and empty strings.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data, at: 0 }
    }

    /// True once every byte was read.
    pub fn is_empty(&self) -> bool {
        self.at >= self.data.len()
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        b
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// A number below `n` (1..=256) from one byte.
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n.max(1)
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.at = self.at.saturating_add(n);
        self.data.get(start..end).unwrap_or(&[])
    }

    /// A byte string of at most `max` bytes: a u16 length (reduced modulo `max + 1`),
    /// then the bytes.
    pub fn string(&mut self, max: usize) -> &'a [u8] {
        let len = usize::from(self.u16()) % (max + 1);
        self.bytes(len)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        self.at = self.data.len();
        self.data.get(start..).unwrap_or(&[])
    }
}

/// Writes what a [`Cursor`] reads.
#[derive(Clone, Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// An empty input.
    pub fn new() -> Writer {
        Writer(Vec::new())
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Writer {
        self.0.push(v);
        self
    }

    /// A little-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Writer {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A little-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Writer {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A little-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Writer {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Writer {
        self.0.extend_from_slice(b);
        self
    }

    /// A byte string as [`Cursor::string`] reads it (its length must fit a u16).
    pub fn string(&mut self, b: &[u8]) -> &mut Writer {
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
        self.u16(len);
        self.bytes(b.get(..usize::from(len)).unwrap_or(b))
    }

    /// The input.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_writes_what_the_cursor_reads() {
        let bytes = Writer::new()
            .u8(7)
            .u16(300)
            .u32(70_000)
            .u64(1 << 40)
            .string(b"abc")
            .bytes(b"xyz")
            .finish();
        let mut c = Cursor::new(&bytes);
        assert_eq!(c.u8(), 7);
        assert_eq!(c.u16(), 300);
        assert_eq!(c.u32(), 70_000);
        assert_eq!(c.u64(), 1 << 40);
        assert_eq!(c.string(10), b"abc");
        assert_eq!(c.rest(), b"xyz");
        assert!(c.is_empty());
        assert_eq!(c.u64(), 0);
        assert_eq!(c.bytes(3), b"");
    }
}
