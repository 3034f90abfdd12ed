//! OP_MSG payload type 1 sections: document sequences.

use bson::RawDocumentBuf;

use crate::{Error, Result};

/// A payload type 1 section: a named run of documents that stands for one array-valued
/// command argument (e.g. `documents` of `insert`).
///
/// # Examples
///
/// ```
/// use bson::rawdoc;
/// use greenmongo::wire::DocumentSequence;
///
/// let seq = DocumentSequence::new("documents", vec![rawdoc! { "_id": 1 }])?;
/// assert_eq!(seq.identifier(), "documents");
/// assert_eq!(seq.documents().len(), 1);
/// assert!(DocumentSequence::new("bad\0name", vec![]).is_err());
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentSequence {
    /// Never contains NUL (it is written as a C string).
    pub(super) identifier: String,
    pub(super) documents: Vec<RawDocumentBuf>,
}

impl DocumentSequence {
    /// A sequence named `identifier` holding `documents`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if `identifier`
    /// contains a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::DocumentSequence;
    ///
    /// let seq = DocumentSequence::new("deletes", vec![rawdoc! { "q": {}, "limit": 0 }])?;
    /// assert_eq!(seq.documents().len(), 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn new(identifier: impl Into<String>, documents: Vec<RawDocumentBuf>) -> Result<Self> {
        let identifier = identifier.into();
        if identifier.contains('\0') {
            return Err(Error::invalid_argument(format!(
                "document sequence identifier {identifier:?} contains a NUL byte"
            )));
        }
        Ok(DocumentSequence {
            identifier,
            documents,
        })
    }

    /// The command argument this sequence stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::DocumentSequence;
    ///
    /// assert_eq!(DocumentSequence::new("updates", vec![])?.identifier(), "updates");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The documents, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::DocumentSequence;
    ///
    /// let seq = DocumentSequence::new("documents", vec![rawdoc! { "a": 1 }])?;
    /// assert_eq!(seq.documents()[0].get_i32("a")?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn documents(&self) -> &[RawDocumentBuf] {
        &self.documents
    }

    /// Appends a document.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::DocumentSequence;
    ///
    /// let mut seq = DocumentSequence::new("updates", vec![])?;
    /// seq.push(rawdoc! { "q": {}, "u": { "$set": { "x": 1 } } });
    /// assert_eq!(seq.documents().len(), 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn push(&mut self, document: RawDocumentBuf) {
        self.documents.push(document);
    }

    /// Takes the documents out.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::DocumentSequence;
    ///
    /// let docs = DocumentSequence::new("documents", vec![rawdoc! {}])?.into_documents();
    /// assert_eq!(docs.len(), 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn into_documents(self) -> Vec<RawDocumentBuf> {
        self.documents
    }

    /// Bytes this section takes on the wire, its payload-type byte included.
    pub(super) fn encoded_len(&self) -> usize {
        1 + 4
            + self.identifier.len()
            + 1
            + self
                .documents
                .iter()
                .map(|d| d.as_bytes().len())
                .sum::<usize>()
    }
}
