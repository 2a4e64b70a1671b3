//! The model of strict payload decoding: whether bytes are *the* canonical encoding of
//! a payload of a kind.
//!
//! It restates the rules on its own, without postcard or glitter: the payload types
//! (docs: README "Social payloads", `core/src/social`) and the postcard wire rules
//! they are written in. Integers wider than a byte are LEB128 varints, and canonical
//! means *minimal* (no trailing zero group) and within the type's range; lengths of
//! strings and lists are such varints, bounded by the field's capacity; strings are
//! UTF-8; `Option` is a 0/1 byte; an enum is its variant index as a varint; a byte
//! array is its bytes. A payload is at most 1024 bytes and nothing may follow it.

/// The largest payload (header `payload_len` bound).
pub const PAYLOAD_MAX: usize = 1024;

struct P<'a> {
    b: &'a [u8],
    at: usize,
}

type R<T> = Result<T, ()>;

impl<'a> P<'a> {
    fn byte(&mut self) -> R<u8> {
        let v = *self.b.get(self.at).ok_or(())?;
        self.at += 1;
        Ok(v)
    }

    fn raw(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(())?;
        let s = self.b.get(self.at..end).ok_or(())?;
        self.at = end;
        Ok(s)
    }

    /// A minimal LEB128 varint of at most `max_bytes` bytes whose value is at most
    /// `max`.
    fn varint(&mut self, max: u64, max_bytes: usize) -> R<u64> {
        let mut v: u128 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            v |= u128::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(()); // a trailing zero group: not minimal
                }
                return if v <= u128::from(max) {
                    Ok(v as u64)
                } else {
                    Err(())
                };
            }
        }
        Err(())
    }

    fn u16(&mut self) -> R<u64> {
        self.varint(u64::from(u16::MAX), 3)
    }

    fn u32(&mut self) -> R<u64> {
        self.varint(u64::from(u32::MAX), 5)
    }

    fn u64(&mut self) -> R<u64> {
        self.varint(u64::MAX, 10)
    }

    /// A list length, at most `cap`.
    fn len(&mut self, cap: usize) -> R<usize> {
        let n = self.u64()?;
        if n > cap as u64 {
            return Err(());
        }
        Ok(n as usize)
    }

    fn variant(&mut self, variants: u64) -> R<u64> {
        let v = self.u32()?;
        if v >= variants {
            return Err(());
        }
        Ok(v)
    }

    fn string(&mut self, cap: usize) -> R<()> {
        let n = self.len(cap)?;
        let s = self.raw(n)?;
        std::str::from_utf8(s).map(|_| ()).map_err(|_| ())
    }

    fn byte_list(&mut self, cap: usize) -> R<()> {
        let n = self.len(cap)?;
        self.raw(n).map(|_| ())
    }

    fn list(&mut self, cap: usize, mut item: impl FnMut(&mut P<'a>) -> R<()>) -> R<()> {
        let n = self.len(cap)?;
        for _ in 0..n {
            item(self)?;
        }
        Ok(())
    }

    fn block_ref(&mut self) -> R<()> {
        self.raw(32)?;
        self.u64()?;
        self.raw(32).map(|_| ())
    }
}

/// The kinds by header code (1..=8), as the README's block table lists them.
pub fn canonical(kind_code: u8, bytes: &[u8]) -> bool {
    if bytes.len() > PAYLOAD_MAX {
        return false;
    }
    let mut p = P { b: bytes, at: 0 };
    let parsed = match kind_code {
        // Profile: name (≤ 64 bytes), about (≤ 256 bytes).
        1 => p.string(64).and_then(|()| p.string(256)),
        // Post: text (≤ 512 bytes), optional reply-to block reference.
        2 => p.string(512).and_then(|()| match p.byte()? {
            0 => Ok(()),
            1 => p.block_ref(),
            _ => Err(()),
        }),
        // Follow, Unfollow: a 32-byte key.
        3 | 4 => p.raw(32).map(|_| ()),
        // Trust: subject, role (custodian, witness, revoke), threshold byte.
        5 => p
            .raw(32)
            .and_then(|_| p.variant(3))
            .and_then(|_| p.byte())
            .map(|_| ()),
        // Attestation: at most 8 block references.
        6 => p.list(8, P::block_ref),
        // BackupManifest: version, threshold byte, 16-byte salt, ≤ 16 hints of 8
        // bytes, ≤ 16 commitments of 16 bytes, ≤ 8 ranges (first, last, version,
        // ciphertext length u32, 32-byte root).
        7 => (|| {
            p.u64()?;
            p.byte()?;
            p.raw(16)?;
            p.list(16, |q| q.raw(8).map(|_| ()))?;
            p.list(16, |q| q.raw(16).map(|_| ()))?;
            p.list(8, |q| {
                q.u64()?;
                q.u64()?;
                q.u64()?;
                q.u32()?;
                q.raw(32).map(|_| ())
            })
        })(),
        // Claim: backend (placeholder, dalek), statement (knows-key: key; ring: ≤ 14
        // keys; post-count: author and a u16; member: set hash, a u32 and a bool;
        // post-count member: a u16, snapshot hash, a u32 and a bool), context ≤ 32,
        // message ≤ 32, proof ≤ 64 + 4 × 212 bytes.
        8 => (|| {
            p.variant(2)?;
            let flag = |q: &mut P<'_>| match q.byte()? {
                0 | 1 => Ok(()),
                _ => Err(()),
            };
            match p.variant(5)? {
                0 => p.raw(32).map(|_| ())?,
                1 => p.list(14, |q| q.raw(32).map(|_| ()))?,
                2 => {
                    p.raw(32)?;
                    p.u16().map(|_| ())?
                }
                3 => {
                    p.raw(32)?;
                    p.u32()?;
                    flag(&mut p)?
                }
                _ => {
                    p.u16()?;
                    p.raw(32)?;
                    p.u32()?;
                    flag(&mut p)?
                }
            }
            p.byte_list(32)?;
            p.byte_list(32)?;
            p.byte_list(64 + 4 * 212)
        })(),
        _ => Err(()),
    };
    parsed.is_ok() && p.at == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_must_be_minimal_and_in_range() {
        // Post { text: "", reply_to: None }.
        assert!(canonical(2, &[0, 0]));
        assert!(!canonical(2, &[0x80, 0x00, 0x00]));
        assert!(!canonical(2, &[0, 0, 0]));
        // A post-count claim with posts = 65535 (3-byte varint) and 65536 (too big).
        let mut claim = vec![0, 2];
        claim.extend_from_slice(&[1; 32]);
        let mut max = claim.clone();
        max.extend_from_slice(&[0xff, 0xff, 0x03, 0, 0, 0]);
        assert!(canonical(8, &max));
        claim.extend_from_slice(&[0x80, 0x80, 0x04, 0, 0, 0]);
        assert!(!canonical(8, &claim));
        // A member claim (set hash, n = 1024, linkable) and its bool out of range.
        let mut member = vec![1, 3];
        member.extend_from_slice(&[2; 32]);
        member.extend_from_slice(&[0x80, 0x08, 1, 0, 0, 0]);
        assert!(canonical(8, &member));
        member[36] = 2;
        assert!(!canonical(8, &member));
        // Strings are UTF-8.
        assert!(canonical(1, &[2, b'o', b'k', 0]));
        assert!(!canonical(1, &[1, 0xff, 0]));
    }
}
