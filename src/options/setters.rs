//! The `builder()` / setter / `build()` methods every options struct has.

/// Builder-style setters, so options read as in the official driver:
/// `FindOptions::builder().sort(doc! { "price": 1 }).limit(10).build()`.
macro_rules! setters {
    ($options:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        impl $options {
            /// Default options, to chain setters on (as the official driver's builders).
            ///
            /// # Examples
            ///
            #[doc = concat!(
                "```\n",
                "use greenmongo::options::", stringify!($options), ";\n\n",
                "// Every option starts unset, as in `", stringify!($options), "::default()`.\n",
                "assert_eq!(", stringify!($options), "::builder().build(), ", stringify!($options), "::default());\n",
                "```",
            )]
            pub fn builder() -> Self {
                Self::default()
            }

            /// The options, ready to pass (the end of a builder chain).
            ///
            /// # Examples
            ///
            #[doc = concat!(
                "```\n",
                "use greenmongo::options::", stringify!($options), ";\n\n",
                "let options: ", stringify!($options), " = ", stringify!($options), "::builder().build();\n",
                "assert_eq!(options, ", stringify!($options), "::default()); // no setter called\n",
                "```",
            )]
            pub fn build(self) -> Self {
                self
            }

            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                ///
                /// # Examples
                ///
                #[doc = concat!(
                    "```\n",
                    "# use bson::{Bson, Document};\n",
                    "# use std::time::Duration;\n",
                    "use greenmongo::options::*;\n\n",
                    "fn with_", stringify!($field), "(value: ", stringify!($ty), ") -> ", stringify!($options), " {\n",
                    "    let options = ", stringify!($options), "::builder().", stringify!($field), "(value).build();\n",
                    "    assert!(options.", stringify!($field), ".is_some());\n",
                    "    options\n",
                    "}\n",
                    "```",
                )]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}
