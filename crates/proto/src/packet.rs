//! Sealed, constant-size packets: the only thing that crosses the media
//! socket.
//!
//! ```text
//! offset  field
//! 0       type (high nibble, 1 = sealed) | protocol version (low nibble)
//! 1       key epoch (low 8 bits of the sender's epoch counter)     } header-
//! 2..10   packet number, u64 big-endian, per direction, never repeats } protected
//! 10..N-16  AES-256-GCM ciphertext of the masked payload
//! N-16..N   GCM tag
//!
//! AAD   = bytes 0..10 before header protection
//! nonce = direction IV XOR (0^32 || packet number)
//! ```
//!
//! **Header protection** (as QUIC does it, RFC 9001 §5.4). After sealing,
//! the sender hides the epoch and the packet number:
//!
//! ```text
//! sample = bytes 10..26            (the first 16 bytes of the ciphertext)
//! mask   = AES-256(H[direction], sample)
//! bytes 1..10 ^= mask[0..9]
//! ```
//!
//! `H` is the direction's header key from the key schedule, fixed for the
//! call so that a receiver can remove the protection before it knows the
//! epoch. The receiver recomputes the mask from the same sample, recovers
//! the epoch and packet number, and only then opens the packet; the AEAD
//! authenticates the unprotected header, so a flipped header bit makes the
//! packet fail to open. Because the sample is ciphertext under a key that
//! never repeats a nonce, every packet gets an unrelated mask: an observer
//! without `H` sees nine bytes that look random in every packet, so it
//! learns no packet counter (and with it no loss or reorder rate and no
//! count of packets sent), no key epoch and no rekey moment. It does not
//! hide the first byte (needed to tell our packets from STUN and TURN on
//! the same socket, RFC 7983), nor the size and timing of packets, which
//! are constant anyway; confidentiality and integrity come from the AEAD,
//! not from this mask.
//!
//! The plaintext payload has the same length in every packet of a call
//! (`N - 26`, where `N` is the profile's packet length):
//!
//! ```text
//! media:    0x01 | timestamp u32 | count u8 | count × (age u8 | len u16 | frame) | zeros
//! control:  0x02 | control message (see the `control` module)            | zeros
//! ```
//!
//! The content kind sits *inside* the encryption, so an observer cannot
//! tell a ping from speech, and because every packet is padded to the same
//! length and media packets leave at a fixed rate whether anyone speaks or
//! not, packet sizes and timing carry no information about the speech (the
//! leak described in RFC 6562).
//!
//! **Payload mask.** Before sealing, the whole payload (padding
//! included) is XORed with an AES-256-CTR keystream under the direction's
//! mask key, with the packet number as the counter block's high half. The
//! AEAD alone already provides confidentiality and integrity; the mask is
//! defence in depth kept from the prototype, so that even a GCM nonce
//! misuse bug would not expose plaintext structure such as the zero padding.
//!
//! Sealing and opening work in caller-owned buffers and never allocate.

use aes_gcm::aead::AeadInOut as _;
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::{BlockCipherEncrypt as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce, Tag};

use crate::PROTOCOL_VERSION;
use crate::schedule::EpochKeys;
use crate::wire::{Reader, SliceWriter};

/// Length of the header (byte 0 in clear, the rest header-protected).
pub const HEADER_LEN: usize = 10;
/// Length of the ciphertext sample that header protection is keyed on.
pub const HEADER_SAMPLE_LEN: usize = 16;
/// Length of the GCM tag.
pub const TAG_LEN: usize = 16;
/// Shortest packet length a profile may choose.
pub const MIN_PACKET_LEN: usize = 64;
/// Longest packet length a profile may choose (stays below common MTUs).
pub const MAX_PACKET_LEN: usize = 1200;
/// Packet type of a sealed packet, in the high nibble of byte 0.
pub const PACKET_TYPE_SEALED: u8 = 1;
/// The first byte of every packet this version sends.
pub const TYPE_BYTE: u8 = (PACKET_TYPE_SEALED << 4) | PROTOCOL_VERSION;

/// Content kind of a media payload.
pub(crate) const CONTENT_MEDIA: u8 = 1;
/// Content kind of a control payload.
pub(crate) const CONTENT_CONTROL: u8 = 2;

/// Most frames one media packet may carry (the current one plus up to four
/// redundant earlier ones).
pub const MAX_FRAMES_PER_PACKET: usize = 5;
/// Bytes of a media payload before the first frame.
const MEDIA_PREFIX_LEN: usize = 1 + 4 + 1;
/// Bytes before each frame's data.
const FRAME_PREFIX_LEN: usize = 1 + 2;

/// Payload bytes available in a packet of `packet_len` bytes.
pub const fn payload_len(packet_len: usize) -> usize {
    packet_len - HEADER_LEN - TAG_LEN
}

/// Largest total of frame bytes a media packet of `packet_len` can carry
/// with `frames` frames.
pub const fn frame_capacity(packet_len: usize, frames: usize) -> usize {
    payload_len(packet_len) - MEDIA_PREFIX_LEN - frames * FRAME_PREFIX_LEN
}

/// A parsed header, after header protection was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Low 8 bits of the sender's key epoch.
    pub epoch: u8,
    /// Packet number.
    pub packet_number: u64,
}

impl Header {
    /// Reads a header whose protection was already removed, without
    /// authenticating anything. Fails on a short datagram or an unknown
    /// type/version byte. (On the wire, bytes 1..10 are masked by this
    /// module's private `HeaderProtection`.)
    pub fn parse(datagram: &[u8]) -> Option<Header> {
        let mut r = Reader::new(datagram);
        if r.u8()? != TYPE_BYTE {
            return None;
        }
        let epoch = r.u8()?;
        let packet_number = r.u64()?;
        Some(Header {
            epoch,
            packet_number,
        })
    }

    fn write(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = TYPE_BYTE;
        out[1] = self.epoch;
        out[2..10].copy_from_slice(&self.packet_number.to_be_bytes());
    }
}

/// One codec frame inside a media packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaFrame<'a> {
    /// How many frame intervals older than the packet's timestamp this
    /// frame is: 0 for the current frame, 1.. for redundant copies.
    pub age: u8,
    /// The encoded frame.
    pub data: &'a [u8],
}

/// What a media packet carries: the current frame and redundant earlier
/// ones, with the media timestamp of the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPayload<'a> {
    /// Media timestamp of the current frame, in 48 kHz sample ticks.
    pub timestamp: u32,
    /// Frames, newest first.
    pub frames: &'a [MediaFrame<'a>],
}

/// Why media could not be put into a packet. Caller mistakes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The output buffer is shorter than the call's packet length.
    #[error("output buffer shorter than the packet length")]
    BufferTooSmall,
    /// The frames do not fit into the fixed packet length; encode at a
    /// lower bitrate or with less redundancy.
    #[error("frames do not fit into the fixed packet length")]
    PayloadTooLarge,
    /// No frames, or more than [`MAX_FRAMES_PER_PACKET`].
    #[error("a media packet carries 1 to {MAX_FRAMES_PER_PACKET} frames")]
    FrameCount,
}

impl MediaPayload<'_> {
    /// Writes the plaintext media payload into `out` and zero-fills the
    /// rest of it.
    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<(), EncodeError> {
        if self.frames.is_empty() || self.frames.len() > MAX_FRAMES_PER_PACKET {
            return Err(EncodeError::FrameCount);
        }
        let mut w = SliceWriter::new(out);
        let res = (|| {
            w.u8(CONTENT_MEDIA)?;
            w.u32(self.timestamp)?;
            // Checked above: at most MAX_FRAMES_PER_PACKET.
            w.u8(self.frames.len() as u8)?;
            for f in self.frames {
                w.u8(f.age)?;
                w.u16(u16::try_from(f.data.len()).ok()?)?;
                w.put(f.data)?;
            }
            Some(w.position())
        })();
        let used = res.ok_or(EncodeError::PayloadTooLarge)?;
        out[used..].fill(0);
        Ok(())
    }
}

/// Media that arrived, borrowing from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedMedia<'a> {
    /// Packet number it arrived in (for loss and reorder accounting).
    pub packet_number: u64,
    /// Media timestamp of the newest frame, in 48 kHz sample ticks.
    pub timestamp: u32,
    frame_count: u8,
    frames: &'a [u8],
}

impl<'a> ReceivedMedia<'a> {
    /// Parses a decrypted, unmasked media payload (content kind included).
    /// [`crate::session::CallSession::handle_datagram`] does this for you;
    /// it is public for tests and fuzzing.
    pub fn decode(packet_number: u64, payload: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(payload);
        if r.u8()? != CONTENT_MEDIA {
            return None;
        }
        let timestamp = r.u32()?;
        let frame_count = r.u8()?;
        if frame_count == 0 || usize::from(frame_count) > MAX_FRAMES_PER_PACKET {
            return None;
        }
        let frames = r.rest();
        // Validate every frame now so that iterating later cannot fail.
        let mut check = Reader::new(frames);
        for _ in 0..frame_count {
            check.u8()?;
            let len = check.u16()?;
            check.bytes(usize::from(len))?;
        }
        Some(Self {
            packet_number,
            timestamp,
            frame_count,
            frames,
        })
    }

    /// Number of frames in the packet.
    pub fn frame_count(&self) -> usize {
        usize::from(self.frame_count)
    }

    /// The frames, newest first.
    pub fn frames(&self) -> impl Iterator<Item = MediaFrame<'a>> + 'a {
        let mut r = Reader::new(self.frames);
        (0..self.frame_count).map_while(move |_| {
            // `parse` already walked these bounds, so this never stops early.
            let age = r.u8()?;
            let len = r.u16()?;
            let data = r.bytes(usize::from(len))?;
            Some(MediaFrame { age, data })
        })
    }
}

/// The header protection of one direction: hides the epoch and packet
/// number of every packet under a key that lasts the whole call.
pub(crate) struct HeaderProtection {
    cipher: Aes256,
}

impl HeaderProtection {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256::new(key.into()),
        }
    }

    /// mask = AES-256(H, ciphertext[0..16]); `None` if the packet is too
    /// short to hold a sample.
    fn mask(&self, packet: &[u8]) -> Option<[u8; HEADER_SAMPLE_LEN]> {
        let sample = packet.get(HEADER_LEN..HEADER_LEN + HEADER_SAMPLE_LEN)?;
        let mut block = aes_gcm::aes::Block::default();
        block.copy_from_slice(sample);
        self.cipher.encrypt_block(&mut block);
        Some(block.0)
    }

    /// Masks bytes 1..10 of a sealed packet in place.
    pub(crate) fn protect(&self, packet: &mut [u8]) {
        // Sealed packets are at least MIN_PACKET_LEN long, which leaves room
        // for the sample; a shorter buffer is left alone.
        if let Some(mask) = self.mask(packet) {
            for (b, m) in packet[1..HEADER_LEN].iter_mut().zip(mask) {
                *b ^= m;
            }
        }
    }

    /// Recovers the header of a protected packet without changing it.
    pub(crate) fn unprotect(&self, packet: &[u8]) -> Option<Header> {
        let mask = self.mask(packet)?;
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(packet.get(..HEADER_LEN)?);
        for (b, m) in header[1..].iter_mut().zip(mask) {
            *b ^= m;
        }
        Header::parse(&header)
    }
}

/// The ciphers of one direction in one epoch, ready for use.
pub(crate) struct DirectionCipher {
    aead: Aes256Gcm,
    mask: Aes256,
    iv: [u8; 12],
    /// Full epoch counter; the header carries its low byte.
    pub(crate) epoch: u32,
}

impl DirectionCipher {
    pub(crate) fn new(keys: &EpochKeys, epoch: u32) -> Self {
        Self {
            aead: Aes256Gcm::new(&keys.aead_key.into()),
            mask: Aes256::new(&keys.mask_key.into()),
            iv: keys.iv,
            epoch,
        }
    }

    /// nonce = IV XOR (0^32 || pn)
    fn nonce(&self, pn: u64) -> Nonce<aes_gcm::aead::consts::U12> {
        let mut n = self.iv;
        for (b, p) in n[4..].iter_mut().zip(pn.to_be_bytes()) {
            *b ^= p;
        }
        n.into()
    }

    /// XORs the mask keystream for packet `pn` into `payload`. The counter
    /// block is `pn (8 bytes) || 0 (4 bytes) || block index (4 bytes)`.
    fn apply_mask(&self, pn: u64, payload: &mut [u8]) {
        // One block-cipher call per 256 bytes (a whole default packet):
        // each call has a fixed set-up cost that dominates at this size.
        const BATCH: usize = 16;
        let mut index: u32 = 0;
        let mut blocks = [aes_gcm::aes::Block::default(); BATCH];
        for chunk in payload.chunks_mut(16 * BATCH) {
            let n = chunk.len().div_ceil(16);
            for block in blocks.iter_mut().take(n) {
                block[..8].copy_from_slice(&pn.to_be_bytes());
                block[8..12].fill(0);
                block[12..].copy_from_slice(&index.to_be_bytes());
                index = index.wrapping_add(1);
            }
            self.mask.encrypt_blocks(&mut blocks[..n]);
            for (bytes, ks) in chunk.chunks_mut(16).zip(&blocks) {
                if let Ok(whole) = <&mut [u8; 16]>::try_from(&mut *bytes) {
                    // 16 bytes at a time instead of byte by byte.
                    let x = u128::from_ne_bytes(*whole) ^ u128::from_ne_bytes(ks.0);
                    *whole = x.to_ne_bytes();
                } else {
                    for (b, k) in bytes.iter_mut().zip(ks.iter()) {
                        *b ^= k;
                    }
                }
            }
        }
    }

    /// Seals a packet whose plaintext payload is already at
    /// `packet[HEADER_LEN..len - TAG_LEN]`: writes the header, masks,
    /// encrypts and appends the tag, all in place.
    pub(crate) fn seal_in_place(&self, pn: u64, packet: &mut [u8]) {
        let (header, rest) = packet.split_at_mut(HEADER_LEN);
        let header: &mut [u8; HEADER_LEN] = header
            .try_into()
            .expect("split_at_mut gave exactly HEADER_LEN bytes");
        Header {
            epoch: self.epoch as u8,
            packet_number: pn,
        }
        .write(header);
        let tag_at = rest.len() - TAG_LEN;
        let (payload, tag_out) = rest.split_at_mut(tag_at);
        self.apply_mask(pn, payload);
        let tag = self
            .aead
            .encrypt_inout_detached(&self.nonce(pn), header, payload.into())
            .expect("payloads are far below GCM's 64 GiB message limit");
        tag_out.copy_from_slice(&tag);
    }

    /// Authenticates and decrypts `packet` in place, given its header with
    /// the protection removed; on success the plaintext payload is at
    /// `packet[HEADER_LEN..len - TAG_LEN]`. On failure the buffer is left
    /// as it was.
    pub(crate) fn open_in_place(&self, header: &Header, packet: &mut [u8]) -> Result<(), ()> {
        if packet.len() < HEADER_LEN + TAG_LEN {
            return Err(());
        }
        let mut aad = [0u8; HEADER_LEN];
        header.write(&mut aad);
        let pn = header.packet_number;
        let rest = &mut packet[HEADER_LEN..];
        let tag_at = rest.len() - TAG_LEN;
        let (payload, tag) = rest.split_at_mut(tag_at);
        let tag = Tag::try_from(&tag[..]).map_err(|_| ())?;
        self.aead
            .decrypt_inout_detached(&self.nonce(pn), &aad, payload.into(), &tag)
            .map_err(|_| ())?;
        self.apply_mask(pn, payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> DirectionCipher {
        let keys = EpochKeys {
            aead_key: [1; 32],
            iv: [2; 12],
            mask_key: [3; 32],
        };
        DirectionCipher::new(&keys, 0)
    }

    #[test]
    fn mask_is_an_involution_and_depends_on_the_packet_number() {
        let c = cipher();
        let mut a = [0u8; 200];
        c.apply_mask(7, &mut a);
        assert_ne!(a, [0u8; 200]);
        let mut b = [0u8; 200];
        c.apply_mask(8, &mut b);
        assert_ne!(a, b);
        c.apply_mask(7, &mut a);
        assert_eq!(a, [0u8; 200]);
    }

    #[test]
    fn seal_then_open_restores_the_payload() {
        let c = cipher();
        let hp = HeaderProtection::new(&[4; 32]);
        let mut pkt = [0u8; 100];
        pkt[HEADER_LEN..100 - TAG_LEN].fill(0x5A);
        c.seal_in_place(3, &mut pkt);
        hp.protect(&mut pkt);
        let header = hp.unprotect(&pkt).expect("header");
        assert_eq!(header.packet_number, 3);
        assert_ne!(pkt[HEADER_LEN..HEADER_LEN + 4], [0x5A; 4]);
        c.open_in_place(&header, &mut pkt)
            .expect("genuine packet opens");
        assert!(pkt[HEADER_LEN..100 - TAG_LEN].iter().all(|&b| b == 0x5A));
    }

    #[test]
    fn header_protection_hides_consecutive_packet_numbers() {
        let c = cipher();
        let hp = HeaderProtection::new(&[4; 32]);
        let mut headers = Vec::new();
        for pn in 0..64u64 {
            let mut pkt = [0u8; 64];
            c.seal_in_place(pn, &mut pkt);
            hp.protect(&mut pkt);
            assert_eq!(pkt[0], TYPE_BYTE, "the type byte stays readable");
            assert_eq!(hp.unprotect(&pkt).map(|h| h.packet_number), Some(pn));
            headers.push(pkt[1..HEADER_LEN].to_vec());
        }
        // In the clear, consecutive headers share the epoch byte and the
        // seven high bytes of the counter. Protected, each byte position
        // matches the previous packet's only by chance (1/256 per byte).
        let same = headers
            .windows(2)
            .flat_map(|w| w[0].iter().zip(&w[1]).map(|(a, b)| usize::from(a == b)))
            .sum::<usize>();
        assert!(same < 10, "{same} of 567 header bytes repeated");
        // Neither the epoch byte nor the high counter bytes sit still.
        assert!(headers.iter().any(|h| h[0] != 0));
        assert!(headers.iter().any(|h| h[1..8] != [0; 7]));
    }

    #[test]
    fn a_flipped_header_bit_fails_to_open() {
        let c = cipher();
        let hp = HeaderProtection::new(&[4; 32]);
        let mut genuine = [0u8; 64];
        c.seal_in_place(9, &mut genuine);
        hp.protect(&mut genuine);
        for byte in 1..HEADER_LEN {
            for bit in 0..8 {
                let mut pkt = genuine;
                pkt[byte] ^= 1 << bit;
                let opened = hp
                    .unprotect(&pkt)
                    .is_some_and(|h| c.open_in_place(&h, &mut pkt).is_ok());
                assert!(!opened, "flip of byte {byte} bit {bit} opened");
            }
        }
        let h = hp.unprotect(&genuine).expect("header");
        assert!(c.open_in_place(&h, &mut genuine).is_ok());
    }

    #[test]
    fn media_payload_round_trips_and_pads_with_zeros() {
        let frames = [
            MediaFrame {
                age: 0,
                data: b"now",
            },
            MediaFrame {
                age: 1,
                data: b"before",
            },
        ];
        let p = MediaPayload {
            timestamp: 960,
            frames: &frames,
        };
        let mut buf = [0xFFu8; 64];
        p.encode(&mut buf).expect("fits");
        assert_eq!(buf[63], 0);
        let r = ReceivedMedia::decode(9, &buf).expect("parses");
        assert_eq!(r.timestamp, 960);
        let got: Vec<_> = r.frames().collect();
        assert_eq!(got, frames);
    }

    #[test]
    fn oversized_media_is_refused() {
        let big = [0u8; 100];
        let frames = [MediaFrame { age: 0, data: &big }];
        let p = MediaPayload {
            timestamp: 0,
            frames: &frames,
        };
        let mut buf = [0u8; 64];
        assert_eq!(p.encode(&mut buf), Err(EncodeError::PayloadTooLarge));
    }
}
