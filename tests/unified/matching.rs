//! "Evaluating Matches" of the unified test format: expected values against actual ones,
//! with flexible numerics, the root-document "extra keys allowed" rule and the `$$`
//! special operators.
//!
//! A mismatch is an `Err` naming the path (`reply.cursor.id`) and both values.

use bson::{Bson, Document};

use super::format::parse_extended_json;

/// Looks up a BSON entity for `$$matchesEntity`.
pub type EntityLookup<'a> = &'a dyn Fn(&str) -> Option<Bson>;

/// Matches `actual` against `expected`; `root` allows extra keys in the top document.
pub fn matches(
    expected: &Bson,
    actual: Option<&Bson>,
    root: bool,
    entities: EntityLookup<'_>,
) -> Result<(), String> {
    Matcher { entities }.value(expected, actual, root, "")
}

/// Matches without entities (`$$matchesEntity` then fails).
pub fn matches_plain(expected: &Bson, actual: Option<&Bson>, root: bool) -> Result<(), String> {
    matches(expected, actual, root, &|_| None)
}

/// The special operator of a document whose first and only key starts with `$$`.
pub fn special_operator(doc: &Document) -> Option<(&str, &Bson)> {
    if doc.len() != 1 {
        return None;
    }
    let (key, value) = doc.iter().next()?;
    key.starts_with("$$").then_some((key.as_str(), value))
}

struct Matcher<'a> {
    entities: EntityLookup<'a>,
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

impl Matcher<'_> {
    fn value(
        &self,
        expected: &Bson,
        actual: Option<&Bson>,
        root: bool,
        path: &str,
    ) -> Result<(), String> {
        match expected {
            Bson::Document(exp) => {
                if let Some((op, arg)) = special_operator(exp) {
                    return self.operator(op, arg, actual, root, path);
                }
                let Some(Bson::Document(act)) = actual else {
                    return Err(format!(
                        "{}: expected a document {exp}, got {}",
                        shown(path),
                        describe(actual)
                    ));
                };
                self.document(exp, act, root, path)
            }
            Bson::Array(exp) => {
                let Some(Bson::Array(act)) = actual else {
                    return Err(format!(
                        "{}: expected an array, got {}",
                        shown(path),
                        describe(actual)
                    ));
                };
                if exp.len() != act.len() {
                    return Err(format!(
                        "{}: expected {} elements, got {}: {}",
                        shown(path),
                        exp.len(),
                        act.len(),
                        Bson::Array(act.clone())
                    ));
                }
                for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                    self.value(e, Some(a), false, &at(path, &i.to_string()))?;
                }
                Ok(())
            }
            scalar => match actual {
                Some(a) if scalars_equal(scalar, a) => Ok(()),
                _ => Err(format!(
                    "{}: expected {scalar}, got {}",
                    shown(path),
                    describe(actual)
                )),
            },
        }
    }

    fn document(
        &self,
        exp: &Document,
        act: &Document,
        root: bool,
        path: &str,
    ) -> Result<(), String> {
        for (key, value) in exp {
            let sub = at(path, key);
            if let Bson::Document(inner) = value {
                match special_operator(inner) {
                    Some(("$$exists", want)) => {
                        let want = want.as_bool().ok_or("$$exists takes a boolean")?;
                        if act.contains_key(key) != want {
                            return Err(format!(
                                "{sub}: expected the key to {}exist, document is {act}",
                                if want { "" } else { "not " }
                            ));
                        }
                        continue;
                    }
                    Some(("$$unsetOrMatches", _)) if !act.contains_key(key) => continue,
                    _ => {}
                }
            }
            self.value(value, act.get(key), false, &sub)?;
        }
        if !root && let Some(extra) = act.keys().find(|k| !exp.contains_key(k.as_str())) {
            return Err(format!(
                "{}: unexpected key {extra:?} in {act}",
                shown(path)
            ));
        }
        Ok(())
    }

    fn operator(
        &self,
        op: &str,
        arg: &Bson,
        actual: Option<&Bson>,
        root: bool,
        path: &str,
    ) -> Result<(), String> {
        match op {
            "$$exists" => {
                let want = arg.as_bool().ok_or("$$exists takes a boolean")?;
                if actual.is_some() == want {
                    Ok(())
                } else {
                    Err(format!("{}: $$exists {want} failed", shown(path)))
                }
            }
            "$$unsetOrMatches" => match actual {
                None => Ok(()),
                Some(_) => self.value(arg, actual, root, path),
            },
            "$$type" => {
                let Some(actual) = actual else {
                    return Err(format!(
                        "{}: expected a value of type {arg}, got none",
                        shown(path)
                    ));
                };
                let names: Vec<&str> = match arg {
                    Bson::String(s) => vec![s.as_str()],
                    Bson::Array(a) => a.iter().filter_map(Bson::as_str).collect(),
                    _ => return Err(format!("$$type takes a string or array, got {arg}")),
                };
                if names.iter().any(|n| has_type(actual, n)) {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: expected type {arg}, got {actual} ({:?})",
                        shown(path),
                        actual.element_type()
                    ))
                }
            }
            "$$matchesEntity" => {
                let name = arg.as_str().ok_or("$$matchesEntity takes an entity name")?;
                let entity = (self.entities)(name)
                    .ok_or_else(|| format!("$$matchesEntity: no BSON entity {name:?}"))?;
                self.value(&entity, actual, root, path)
            }
            "$$matchesHexBytes" => {
                let hex = arg.as_str().ok_or("$$matchesHexBytes takes a string")?;
                let want = decode_hex(hex)?;
                let got = match actual {
                    Some(Bson::Binary(b)) => b.bytes.clone(),
                    Some(Bson::String(s)) => s.as_bytes().to_vec(),
                    other => {
                        return Err(format!(
                            "{}: expected bytes, got {}",
                            shown(path),
                            describe(other)
                        ));
                    }
                };
                if got == want {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: expected bytes {hex}, got {got:02x?}",
                        shown(path)
                    ))
                }
            }
            "$$lte" => {
                let (Some(limit), Some(value)) = (number(arg), actual.and_then(number)) else {
                    return Err(format!(
                        "{}: $$lte {arg} needs a number, got {}",
                        shown(path),
                        describe(actual)
                    ));
                };
                if value <= limit {
                    Ok(())
                } else {
                    Err(format!("{}: expected <= {arg}, got {value}", shown(path)))
                }
            }
            "$$matchAsDocument" => {
                let Some(Bson::String(text)) = actual else {
                    return Err(format!(
                        "{}: $$matchAsDocument needs an Extended JSON string, got {}",
                        shown(path),
                        describe(actual)
                    ));
                };
                let parsed = parse_extended_json(text)
                    .map_err(|e| format!("{}: {e}: {text}", shown(path)))?;
                self.value(arg, Some(&parsed), false, path)
            }
            "$$matchAsRoot" => self.value(arg, actual, true, path),
            "$$sessionLsid" => {
                let Bson::String(id) = arg else {
                    return Err(format!("{}: $$sessionLsid needs an entity id", shown(path)));
                };
                match (self.entities)(id) {
                    Some(lsid) if actual == Some(&lsid) => Ok(()),
                    Some(lsid) => Err(format!(
                        "{}: expected the lsid of {id} ({lsid}), got {}",
                        shown(path),
                        describe(actual)
                    )),
                    None => Err(format!("{}: no session entity {id}", shown(path))),
                }
            }
            other => Err(format!("unknown special operator {other}")),
        }
    }
}

fn describe(actual: Option<&Bson>) -> String {
    actual.map_or_else(|| "nothing".to_owned(), ToString::to_string)
}

/// Int32, Int64 and Double as one number (Decimal128 is not flexible).
fn number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(d) => Some(*d),
        _ => None,
    }
}

fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        _ => None,
    }
}

/// Equality with flexible numerics: 1, 1i64 and 1.0 are equal.
pub fn scalars_equal(expected: &Bson, actual: &Bson) -> bool {
    if let (Some(a), Some(b)) = (integer(expected), integer(actual)) {
        return a == b;
    }
    match (number(expected), number(actual)) {
        (Some(a), Some(b)) => a == b,
        _ => expected == actual,
    }
}

/// Whether `value` has the `$type` alias `name`.
fn has_type(value: &Bson, name: &str) -> bool {
    use bson::spec::ElementType as T;
    let wanted = match name {
        "number" => {
            return matches!(
                value,
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
            );
        }
        "double" => T::Double,
        "string" => T::String,
        "object" => T::EmbeddedDocument,
        "array" => T::Array,
        "binData" => T::Binary,
        "undefined" => T::Undefined,
        "objectId" => T::ObjectId,
        "bool" => T::Boolean,
        "date" => T::DateTime,
        "null" => T::Null,
        "regex" => T::RegularExpression,
        "dbPointer" => T::DbPointer,
        "javascript" => T::JavaScriptCode,
        "symbol" => T::Symbol,
        "javascriptWithScope" => T::JavaScriptCodeWithScope,
        "int" => T::Int32,
        "timestamp" => T::Timestamp,
        "long" => T::Int64,
        "decimal" => T::Decimal128,
        "minKey" => T::MinKey,
        "maxKey" => T::MaxKey,
        _ => return false,
    };
    value.element_type() == wanted
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [_, _] => std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("$$matchesHexBytes: not hex {hex:?}")),
            _ => Err(format!("$$matchesHexBytes: odd length {hex:?}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bson::{Bson, bson, doc};

    use super::*;

    fn ok(expected: Bson, actual: Bson) {
        if let Err(e) = matches_plain(&expected, Some(&actual), true) {
            panic!("{expected} should match {actual}: {e}");
        }
    }

    fn no(expected: Bson, actual: Bson) {
        assert!(
            matches_plain(&expected, Some(&actual), true).is_err(),
            "{expected} should not match {actual}"
        );
    }

    #[test]
    fn numbers_are_flexible_but_not_loose() {
        ok(bson!(1), bson!(1.0));
        ok(bson!(1i64), bson!(1));
        no(bson!(1), bson!(1.5));
        no(bson!(1), bson!("1"));
    }

    #[test]
    fn root_documents_allow_extra_keys_nested_ones_do_not() {
        ok(bson!({ "x": 1 }), bson!({ "x": 1, "y": 1 }));
        no(bson!({ "x": 1, "y": 1 }), bson!({ "x": 1 }));
        no(
            bson!({ "x": { "y": 1 } }),
            bson!({ "x": { "y": 1, "z": 1 } }),
        );
        ok(bson!({ "x": 1, "y": 2 }), bson!({ "y": 2, "x": 1 }));
        assert!(
            matches_plain(&bson!({ "x": 1 }), Some(&bson!({ "x": 1, "y": 1 })), false).is_err()
        );
    }

    #[test]
    fn arrays_need_the_same_length_and_elements_are_not_roots() {
        ok(bson!([1, 2, 3]), bson!([1, 2, 3]));
        no(bson!([1, 2, 3]), bson!([1, 2, 3, 4]));
        no(bson!([{ "x": 1 }]), bson!([{ "x": 1, "y": 2 }]));
    }

    #[test]
    fn exists_checks_presence() {
        ok(bson!({ "a": { "$$exists": true } }), bson!({ "a": null }));
        no(bson!({ "a": { "$$exists": true } }), bson!({}));
        ok(bson!({ "a": { "$$exists": false } }), bson!({ "b": 1 }));
        no(bson!({ "a": { "$$exists": false } }), bson!({ "a": 1 }));
    }

    #[test]
    fn type_accepts_one_or_several_aliases() {
        ok(bson!({ "a": { "$$type": "string" } }), bson!({ "a": "x" }));
        ok(
            bson!({ "a": { "$$type": ["int", "long"] } }),
            bson!({ "a": 5i64 }),
        );
        no(bson!({ "a": { "$$type": "int" } }), bson!({ "a": 5i64 }));
        no(bson!({ "a": { "$$type": "string" } }), bson!({}));
        ok(bson!({ "a": { "$$type": "number" } }), bson!({ "a": 1.5 }));
        ok(
            bson!({ "a": { "$$type": "array" } }),
            bson!({ "a": [1, "x"] }),
        );
    }

    #[test]
    fn unset_or_matches_allows_absence_only() {
        let exp = bson!({ "$$unsetOrMatches": { "insertedId": { "$$unsetOrMatches": 2 } } });
        ok(exp.clone(), bson!({ "insertedId": 2 }));
        ok(exp.clone(), bson!({}));
        no(exp.clone(), bson!({ "insertedId": 3 }));
        assert!(matches_plain(&exp, None, true).is_ok());
        // It does not make a nested document a root.
        no(
            bson!({ "a": { "$$unsetOrMatches": { "x": 1 } } }),
            bson!({ "a": { "x": 1, "y": 1 } }),
        );
    }

    #[test]
    fn lte_compares_flexible_numbers() {
        ok(bson!({ "n": { "$$lte": 1 } }), bson!({ "n": 1.0 }));
        ok(bson!({ "n": { "$$lte": 1 } }), bson!({ "n": 0i64 }));
        no(bson!({ "n": { "$$lte": 1 } }), bson!({ "n": 1.1 }));
        no(bson!({ "n": { "$$lte": 1 } }), bson!({ "n": "1" }));
    }

    #[test]
    fn match_as_document_parses_extended_json_without_extra_keys() {
        let exp = bson!({ "json": { "$$matchAsDocument": { "x": 1, "d": { "$$type": "date" } } } });
        ok(
            exp.clone(),
            bson!({ "json": r#"{"x": 1.0, "d": {"$date": "2024-01-01T00:00:00Z"}}"# }),
        );
        no(
            exp.clone(),
            bson!({ "json": r#"{"x": 1, "d": {"$date": "2024-01-01T00:00:00Z"}, "y": 2}"# }),
        );
        no(exp, bson!({ "json": { "x": 1 } }));
    }

    #[test]
    fn match_as_root_allows_extra_keys_in_a_nested_document() {
        ok(
            bson!({ "a": { "$$matchAsRoot": { "x": 1 } } }),
            bson!({ "a": { "x": 1, "y": 2 } }),
        );
        no(
            bson!({ "a": { "$$matchAsRoot": { "x": 1 } } }),
            bson!({ "a": { "y": 2 } }),
        );
        let both = bson!({ "a": { "$$matchAsDocument": { "$$matchAsRoot": { "x": 1 } } } });
        ok(both, bson!({ "a": r#"{"x": 1, "y": 2}"# }));
    }

    #[test]
    fn matches_entity_and_hex_bytes() {
        let entities = |name: &str| (name == "id0").then(|| bson!(7));
        assert!(
            matches(
                &bson!({ "_id": { "$$matchesEntity": "id0" } }),
                Some(&bson!({ "_id": 7 })),
                true,
                &entities
            )
            .is_ok()
        );
        assert!(
            matches(
                &bson!({ "_id": { "$$matchesEntity": "id0" } }),
                Some(&bson!({ "_id": 8 })),
                true,
                &entities
            )
            .is_err()
        );
        assert!(
            matches(
                &bson!({ "$$matchesEntity": "nope" }),
                Some(&bson!(1)),
                true,
                &entities
            )
            .is_err()
        );
        let bytes = Bson::Binary(bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: vec![0x12, 0xab],
        });
        ok(bson!({ "$$matchesHexBytes": "12AB" }), bytes.clone());
        no(bson!({ "$$matchesHexBytes": "12ac" }), bytes.clone());
        no(bson!({ "$$matchesHexBytes": "12a" }), bytes.clone());
        no(bson!({ "$$matchesHexBytes": "zz" }), bytes);
    }

    #[test]
    fn session_lsid_matches_the_entity_and_unknown_operators_are_errors() {
        no(
            bson!({ "lsid": { "$$sessionLsid": "session0" } }),
            bson!({ "lsid": {} }),
        );
        let lsid = |name: &str| (name == "session0").then(|| bson!({ "id": 1 }));
        let expected = bson!({ "lsid": { "$$sessionLsid": "session0" } });
        assert!(
            matches(
                &expected,
                Some(&bson!({ "lsid": { "id": 1 } })),
                true,
                &lsid
            )
            .is_ok()
        );
        assert!(
            matches(
                &expected,
                Some(&bson!({ "lsid": { "id": 2 } })),
                true,
                &lsid
            )
            .is_err()
        );
        no(bson!({ "$$nope": 1 }), bson!(1));
        assert_eq!(special_operator(&doc! { "$$type": "int", "x": 1 }), None);
    }
}
