//! `distinct` (CRUD spec, "Distinct").

use bson::{Bson, Document, RawDocumentBuf, doc};

use super::{Command, Concerns, Namespace, Operation, ReadOptions, insert_opt, millis};
use crate::{Result, options::DistinctOptions, retry::Retry, selection::Criteria};

/// The distinct values of a field among the matching documents.
#[derive(Debug)]
pub(crate) struct Distinct {
    ns: Namespace,
    field: String,
    filter: Document,
    options: DistinctOptions,
    read: ReadOptions,
}

impl Distinct {
    pub(crate) fn new(
        ns: Namespace,
        field: String,
        filter: Document,
        options: DistinctOptions,
        concerns: &Concerns,
    ) -> Self {
        Distinct {
            read: ReadOptions::resolve(
                options.read_concern.clone(),
                options.selection_criteria.as_ref(),
                concerns,
            ),
            ns,
            field,
            filter,
            options,
        }
    }
}

impl Operation for Distinct {
    type Output = Vec<Bson>;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut command = doc! {
            "distinct": self.ns.coll.as_str(),
            "key": self.field.as_str(),
            "query": std::mem::take(&mut self.filter),
        };
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        self.read.add_to(&mut command);
        Ok(Command::new(&self.ns.db, command))
    }

    fn criteria(&self) -> Criteria {
        self.read.criteria()
    }

    fn retry(&self) -> Retry {
        Retry::Read
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<Vec<Bson>> {
        let reply = crate::nesting::to_document(reply.as_ref())?;
        Ok(reply.get_array("values").cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        operation::test_util::{assert_command, raw},
        options::Hint,
    };

    #[test]
    fn distinct_sends_key_query_and_options() {
        let options = DistinctOptions {
            hint: Some(Hint::Keys(doc! { "x": 1 })),
            collation: Some(crate::options::Collation::builder().locale("en").build()),
            ..Default::default()
        };
        let mut op = Distinct::new(
            Namespace::new("db", "c"),
            "x".into(),
            doc! { "y": 2 },
            options,
            &Concerns::default(),
        );
        assert_command(
            &mut op,
            doc! { "distinct": "c", "key": "x", "query": { "y": 2 }, "collation": { "locale": "en" }, "hint": { "x": 1 } },
        );
        let values = op
            .handle_response(raw(doc! { "values": [1, "a"], "ok": 1 }))
            .unwrap();
        assert_eq!(values, [Bson::Int32(1), Bson::String("a".into())]);
    }
}
