//! OP_MSG flag bits.

use std::{fmt, ops};

/// The flag bits of an OP_MSG.
///
/// Bits 0–15 are "required": a receiver must reject a message with one it does not know.
/// Bits 16–31 are optional and ignored when unknown (decoding drops them).
///
/// # Examples
///
/// ```
/// use greenmongo::wire::MessageFlags;
///
/// let mut flags = MessageFlags::EXHAUST_ALLOWED;
/// flags.insert(MessageFlags::MORE_TO_COME);
/// assert!(flags.contains(MessageFlags::MORE_TO_COME));
/// assert_eq!(flags.bits(), 0x0001_0002);
/// assert_eq!(format!("{flags:?}"), "MessageFlags(MORE_TO_COME | EXHAUST_ALLOWED)");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MessageFlags(u32);

impl MessageFlags {
    /// Bit 0: a CRC-32C checksum follows the sections.
    /// [`Message::encode`](super::Message::encode) appends it.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::{Message, MessageFlags};
    ///
    /// let mut msg = Message::new(rawdoc! { "ping": 1, "$db": "admin" });
    /// let plain_len = msg.encode(None).len();
    /// msg.flags = MessageFlags::CHECKSUM_PRESENT;
    /// assert_eq!(msg.encode(None).len(), plain_len + 4); // a CRC-32C follows
    /// ```
    pub const CHECKSUM_PRESENT: MessageFlags = MessageFlags(1);
    /// Bit 1: the sender will send another message without waiting (requests: no reply
    /// wanted; replies: more replies follow on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MessageFlags;
    ///
    /// let fire_and_forget = MessageFlags::MORE_TO_COME; // w: 0 writes expect no reply
    /// assert_eq!(fire_and_forget.bits(), 2);
    /// ```
    pub const MORE_TO_COME: MessageFlags = MessageFlags(1 << 1);
    /// Bit 16: the client accepts several replies (exhaust `getMore` and streaming `hello`).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MessageFlags;
    ///
    /// let streaming_hello = MessageFlags::EXHAUST_ALLOWED;
    /// assert!(streaming_hello.contains(MessageFlags::EXHAUST_ALLOWED));
    /// assert!(!streaming_hello.contains(MessageFlags::MORE_TO_COME));
    /// ```
    pub const EXHAUST_ALLOWED: MessageFlags = MessageFlags(1 << 16);

    /// The bits this implementation understands.
    pub(super) const KNOWN: u32 = 1 | 1 << 1 | 1 << 16;
    /// Bits 0–15, which a receiver must understand.
    pub(super) const REQUIRED: u32 = 0xFFFF;

    /// No flags set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenmongo::wire::MessageFlags::empty().bits(), 0);
    /// ```
    pub const fn empty() -> MessageFlags {
        MessageFlags(0)
    }

    /// The flags in `bits` that this implementation knows; the rest are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MessageFlags;
    ///
    /// assert_eq!(MessageFlags::from_bits_truncate(0x0010_0002), MessageFlags::MORE_TO_COME);
    /// ```
    pub const fn from_bits_truncate(bits: u32) -> MessageFlags {
        MessageFlags(bits & Self::KNOWN)
    }

    /// All of `bits`, known or not (for tests and tools that must send odd flags).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MessageFlags;
    ///
    /// assert_eq!(MessageFlags::from_bits_retain(0x0010_0000).bits(), 0x0010_0000);
    /// ```
    pub const fn from_bits_retain(bits: u32) -> MessageFlags {
        MessageFlags(bits)
    }

    /// The raw bits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenmongo::wire::MessageFlags::MORE_TO_COME.bits(), 2);
    /// ```
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MessageFlags;
    ///
    /// assert!(!MessageFlags::empty().contains(MessageFlags::CHECKSUM_PRESENT));
    /// ```
    pub const fn contains(self, other: MessageFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the bits of `other`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MessageFlags;
    ///
    /// let mut f = MessageFlags::empty();
    /// f.insert(MessageFlags::CHECKSUM_PRESENT);
    /// assert_eq!(f, MessageFlags::CHECKSUM_PRESENT);
    /// ```
    pub fn insert(&mut self, other: MessageFlags) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MessageFlags;
    ///
    /// let mut f = MessageFlags::MORE_TO_COME | MessageFlags::CHECKSUM_PRESENT;
    /// f.remove(MessageFlags::MORE_TO_COME);
    /// assert_eq!(f, MessageFlags::CHECKSUM_PRESENT);
    /// ```
    pub fn remove(&mut self, other: MessageFlags) {
        self.0 &= !other.0;
    }
}

impl ops::BitOr for MessageFlags {
    type Output = MessageFlags;
    fn bitor(self, rhs: MessageFlags) -> MessageFlags {
        MessageFlags(self.0 | rhs.0)
    }
}

impl ops::BitOrAssign for MessageFlags {
    fn bitor_assign(&mut self, rhs: MessageFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for MessageFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (MessageFlags::CHECKSUM_PRESENT, "CHECKSUM_PRESENT"),
            (MessageFlags::MORE_TO_COME, "MORE_TO_COME"),
            (MessageFlags::EXHAUST_ALLOWED, "EXHAUST_ALLOWED"),
        ];
        let mut parts: Vec<String> = names
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| (*name).to_owned())
            .collect();
        let unknown = self.0 & !MessageFlags::KNOWN;
        if unknown != 0 {
            parts.push(format!("{unknown:#x}"));
        }
        write!(f, "MessageFlags({})", parts.join(" | "))
    }
}
