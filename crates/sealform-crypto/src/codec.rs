//! Byte-level parsing shared by the formats: a cursor that fails with [`CryptoError::Malformed`] instead of
//! panicking, whatever the input.

use crate::CryptoError;

/// A forward-only cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// `what` names the format in errors ("wrapped key is truncated" and so on are built from it).
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { rest: bytes, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CryptoError> {
        if self.rest.len() < n {
            return Err(CryptoError::Malformed(self.what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], CryptoError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| CryptoError::Malformed(self.what))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CryptoError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, CryptoError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Bytes not yet read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), CryptoError> {
        if self.rest.is_empty() { Ok(()) } else { Err(CryptoError::Malformed(self.what)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_past_the_end_is_malformed_not_a_panic() {
        let mut r = Reader::new(&[1, 2, 3], "x");
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(r.u16().unwrap_err(), CryptoError::Malformed("x"));
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.take(1).is_err());
        r.finish().unwrap();
        let mut r = Reader::new(&[1, 2], "y");
        r.u8().unwrap();
        assert_eq!(r.rest(), &[2]);
        assert_eq!(r.finish().unwrap_err(), CryptoError::Malformed("y"));
    }
}
