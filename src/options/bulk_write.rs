//! The write models and options of bulk writes: the [`WriteModel`]s of
//! [`Client::bulk_write`](crate::Client::bulk_write) (any namespaces, MongoDB 8.0+, the
//! official driver's models), the [`CollectionWriteModel`]s of
//! [`Collection::bulk_write`](crate::Collection::bulk_write) (one collection, any server;
//! a greenmongo extension), and [`UpdateModifications`], the change an update applies.

use bson::{Bson, Document};

use super::{Collation, Hint, WriteConcern};
use crate::Namespace;

/// The change an update applies: an update document (`$set`, `$inc`, ...) or an
/// aggregation pipeline.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::UpdateModifications;
///
/// let operators: UpdateModifications = doc! { "$inc": { "qty": 1 } }.into();
/// let pipeline: UpdateModifications = vec![doc! { "$set": { "total": { "$add": ["$a", "$b"] } } }].into();
/// assert!(matches!(operators, UpdateModifications::Document(_)));
/// assert!(matches!(pipeline, UpdateModifications::Pipeline(ref stages) if stages.len() == 1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateModifications {
    /// `doc! { "$set": { "x": 1 } }`.
    Document(Document),
    /// `vec![doc! { "$set": { "total": { "$add": ["$a", "$b"] } } }]`.
    Pipeline(Vec<Document>),
}

/// An empty update document (refused when run: an update must say what to change); the
/// starting point of a model built with setters.
impl Default for UpdateModifications {
    fn default() -> Self {
        UpdateModifications::Document(Document::new())
    }
}

impl From<Document> for UpdateModifications {
    fn from(d: Document) -> Self {
        UpdateModifications::Document(d)
    }
}

impl From<Vec<Document>> for UpdateModifications {
    fn from(p: Vec<Document>) -> Self {
        UpdateModifications::Pipeline(p)
    }
}

impl UpdateModifications {
    pub(crate) fn to_bson(&self) -> Bson {
        match self {
            UpdateModifications::Document(d) => Bson::Document(d.clone()),
            UpdateModifications::Pipeline(p) => {
                Bson::Array(p.iter().cloned().map(Bson::Document).collect())
            }
        }
    }
}

/// One write of a [`Collection::bulk_write`](crate::Collection::bulk_write).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{CollectionWriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let result = items.bulk_write([
///     CollectionWriteModel::InsertOne { document: doc! { "sku": "fig", "qty": 5 } },
///     CollectionWriteModel::UpdateMany { filter: doc! { "qty": 0 }, update: doc! { "$set": { "soldOut": true } }.into(), options: WriteModelOptions::default() },
///     CollectionWriteModel::DeleteOne { filter: doc! { "sku": "plum" }, options: WriteModelOptions::default() },
/// ]).run()?;
/// println!("{} inserted, {} modified, {} deleted", result.inserted_count, result.modified_count, result.deleted_count);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CollectionWriteModel {
    /// Insert a document (an `_id` is generated if it has none).
    InsertOne {
        /// The document.
        document: Document,
    },
    /// Update the first document matching `filter`.
    UpdateOne {
        /// Which document.
        filter: Document,
        /// Operators or a pipeline.
        update: UpdateModifications,
        /// See [`UpdateOptions`](crate::options::UpdateOptions).
        options: WriteModelOptions,
    },
    /// Update every document matching `filter`.
    UpdateMany {
        /// Which documents.
        filter: Document,
        /// Operators or a pipeline.
        update: UpdateModifications,
        /// See [`UpdateOptions`](crate::options::UpdateOptions).
        options: WriteModelOptions,
    },
    /// Replace the first document matching `filter`.
    ReplaceOne {
        /// Which document.
        filter: Document,
        /// The new document (no operators).
        replacement: Document,
        /// `array_filters` does not apply.
        options: WriteModelOptions,
    },
    /// Delete the first document matching `filter`.
    DeleteOne {
        /// Which document.
        filter: Document,
        /// Only `collation` and `hint` apply.
        options: WriteModelOptions,
    },
    /// Delete every document matching `filter`.
    DeleteMany {
        /// Which documents.
        filter: Document,
        /// Only `collation` and `hint` apply.
        options: WriteModelOptions,
    },
}

/// Per-write options of a [`CollectionWriteModel`].
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::{CollectionWriteModel, Hint, WriteModelOptions};
///
/// let options = WriteModelOptions { upsert: Some(true), hint: Some(Hint::Name("sku_1".into())), ..Default::default() };
/// let restock = CollectionWriteModel::UpdateOne { filter: doc! { "sku": "fig" }, update: doc! { "$inc": { "qty": 10 } }.into(), options };
/// assert!(matches!(restock, CollectionWriteModel::UpdateOne { ref options, .. } if options.upsert == Some(true)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteModelOptions {
    /// Insert when nothing matches (updates and replaces).
    pub upsert: Option<bool>,
    /// Filters for `$[<identifier>]` (updates).
    pub array_filters: Option<Vec<Document>>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Which document an `UpdateOne`/`ReplaceOne` changes when several match.
    pub sort: Option<Document>,
}

/// Options of [`Client::bulk_write`](crate::Client::bulk_write) and of
/// [`Collection::bulk_write`](crate::Collection::bulk_write).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{BulkWriteOptions, CollectionWriteModel};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let writes = ["a", "b", "c"].map(|sku| CollectionWriteModel::InsertOne { document: doc! { "sku": sku } });
/// let unordered = BulkWriteOptions { ordered: Some(false), ..Default::default() }; // go on past errors
/// items.bulk_write(writes).with_options(unordered).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BulkWriteOptions {
    /// Stop at the first error (default `true`).
    pub ordered: Option<bool>,
    /// Skip document validation.
    pub bypass_document_validation: Option<bool>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
}

/// One write of a [`Client::bulk_write`](crate::Client::bulk_write) (MongoDB 8.0+): any
/// namespace, each kind its own model type, as the official driver spells them.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::options::{DeleteManyModel, InsertOneModel, WriteModel};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<bson::Document>("items");
/// let writes: Vec<WriteModel> = vec![
///     InsertOneModel::builder().namespace(items.namespace()).document(doc! { "sku": "fig" }).build().into(),
///     DeleteManyModel::builder().namespace("shop.carts".parse()?).filter(doc! { "expired": true }).build().into(),
/// ];
/// let result = client.bulk_write(writes).run()?;
/// println!("{} inserted, {} deleted", result.inserted_count, result.deleted_count);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WriteModel {
    /// See [`InsertOneModel`].
    InsertOne(InsertOneModel),
    /// See [`UpdateOneModel`].
    UpdateOne(UpdateOneModel),
    /// See [`UpdateManyModel`].
    UpdateMany(UpdateManyModel),
    /// See [`ReplaceOneModel`].
    ReplaceOne(ReplaceOneModel),
    /// See [`DeleteOneModel`].
    DeleteOne(DeleteOneModel),
    /// See [`DeleteManyModel`].
    DeleteMany(DeleteManyModel),
}

/// Declares a client bulk write model: the struct, its `builder()`/setters/`build()`,
/// and `From<Model> for WriteModel`.
macro_rules! write_model {
    (
        $(#[$doc:meta])*
        $model:ident => $variant:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty,)* }
        example: $example:literal
    ) => {
        $(#[$doc])*
        ///
        /// # Examples
        ///
        #[doc = concat!("```\nuse bson::doc;\nuse greenmongo::{options::*, Namespace};\n\n", $example, "\n```")]
        #[derive(Clone, Debug, Default, PartialEq)]
        #[non_exhaustive]
        pub struct $model {
            /// The collection it writes to.
            pub namespace: Namespace,
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $model {
            #[doc = concat!("A [`", stringify!($model), "`] to build with its setters, ending in `build()`.")]
            ///
            /// # Examples
            ///
            #[doc = concat!("```\nuse bson::doc;\nuse greenmongo::{options::*, Namespace};\n\n", $example, "\n```")]
            pub fn builder() -> Self {
                Self::default()
            }

            /// Sets the namespace (`"db.collection".parse()?`, or `collection.namespace()`).
            ///
            /// # Examples
            ///
            #[doc = concat!("```\nuse greenmongo::{options::", stringify!($model), ", Namespace};\n\nlet ns: Namespace = \"shop.items\".parse()?;\nassert_eq!(", stringify!($model), "::builder().namespace(ns).build().namespace.coll, \"items\");\n# Ok::<(), greenmongo::Error>(())\n```")]
            pub fn namespace(mut self, namespace: Namespace) -> Self {
                self.namespace = namespace;
                self
            }

            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](", stringify!($model), "::", stringify!($field), ").")]
                ///
                /// # Examples
                ///
                #[doc = concat!("```\nuse bson::doc;\nuse greenmongo::{options::*, Namespace};\n\n", $example, "\n```")]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = value.into();
                    self
                }
            )*

            /// The model, ready to pass (the end of a builder chain).
            ///
            /// # Examples
            ///
            #[doc = concat!("```\nuse bson::doc;\nuse greenmongo::{options::*, Namespace};\n\n", $example, "\n```")]
            pub fn build(self) -> Self {
                self
            }
        }

        impl From<$model> for WriteModel {
            fn from(model: $model) -> WriteModel {
                WriteModel::$variant(model)
            }
        }
    };
}

write_model! {
    /// Insert one document (an `_id` is generated if it has none).
    InsertOneModel => InsertOne {
        /// The document.
        document: Document,
    }
    example: "let ns: Namespace = \"shop.items\".parse()?;\nlet model: WriteModel = InsertOneModel::builder().namespace(ns).document(doc! { \"sku\": \"fig\" }).build().into();\n# let _ = model;\n# Ok::<(), greenmongo::Error>(())"
}

write_model! {
    /// Update the first document matching `filter`.
    UpdateOneModel => UpdateOne {
        /// Which document.
        filter: Document,
        /// Operators or a pipeline.
        update: UpdateModifications,
        /// Filters for `$[<identifier>]`.
        array_filters: Option<Vec<Bson>>,
        /// String comparison rules.
        collation: Option<Document>,
        /// Which index to use: its name or its keys.
        hint: Option<Bson>,
        /// Insert when none matches.
        upsert: Option<bool>,
        /// Which document when several match.
        sort: Option<Document>,
    }
    example: "let model = UpdateOneModel::builder()\n    .namespace(\"shop.items\".parse()?)\n    .filter(doc! { \"sku\": \"fig\" })\n    .update(doc! { \"$inc\": { \"qty\": 1 } })\n    .upsert(true)\n    .build();\nassert_eq!(model.upsert, Some(true));\n# Ok::<(), greenmongo::Error>(())"
}

write_model! {
    /// Update every document matching `filter`.
    UpdateManyModel => UpdateMany {
        /// Which documents.
        filter: Document,
        /// Operators or a pipeline.
        update: UpdateModifications,
        /// Filters for `$[<identifier>]`.
        array_filters: Option<Vec<Bson>>,
        /// String comparison rules.
        collation: Option<Document>,
        /// Which index to use: its name or its keys.
        hint: Option<Bson>,
        /// Insert when none matches.
        upsert: Option<bool>,
    }
    example: "let model = UpdateManyModel::builder()\n    .namespace(\"shop.items\".parse()?)\n    .filter(doc! { \"qty\": 0 })\n    .update(doc! { \"$set\": { \"soldOut\": true } })\n    .build();\nassert_eq!(model.filter, doc! { \"qty\": 0 });\n# Ok::<(), greenmongo::Error>(())"
}

write_model! {
    /// Replace the first document matching `filter`.
    ReplaceOneModel => ReplaceOne {
        /// Which document.
        filter: Document,
        /// The new document (no operators).
        replacement: Document,
        /// String comparison rules.
        collation: Option<Document>,
        /// Which index to use: its name or its keys.
        hint: Option<Bson>,
        /// Insert when none matches.
        upsert: Option<bool>,
        /// Which document when several match.
        sort: Option<Document>,
    }
    example: "let model = ReplaceOneModel::builder()\n    .namespace(\"shop.items\".parse()?)\n    .filter(doc! { \"sku\": \"fig\" })\n    .replacement(doc! { \"sku\": \"fig\", \"qty\": 7 })\n    .build();\nassert_eq!(model.replacement.get_i32(\"qty\")?, 7);\n# Ok::<(), Box<dyn std::error::Error>>(())"
}

write_model! {
    /// Delete the first document matching `filter`.
    DeleteOneModel => DeleteOne {
        /// Which document.
        filter: Document,
        /// String comparison rules.
        collation: Option<Document>,
        /// Which index to use: its name or its keys.
        hint: Option<Bson>,
    }
    example: "let model = DeleteOneModel::builder().namespace(\"shop.items\".parse()?).filter(doc! { \"sku\": \"fig\" }).build();\nassert_eq!(model.namespace.db, \"shop\");\n# Ok::<(), greenmongo::Error>(())"
}

write_model! {
    /// Delete every document matching `filter`.
    DeleteManyModel => DeleteMany {
        /// Which documents.
        filter: Document,
        /// String comparison rules.
        collation: Option<Document>,
        /// Which index to use: its name or its keys.
        hint: Option<Bson>,
    }
    example: "let model = DeleteManyModel::builder().namespace(\"shop.carts\".parse()?).filter(doc! { \"expired\": true }).build();\nassert!(model.hint.is_none());\n# Ok::<(), greenmongo::Error>(())"
}
