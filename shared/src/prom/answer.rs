//! Prometheus's answers read straight into typed values.
//!
//! Every answer is one envelope (`status`, `data`, `errorType`, `error`, `warnings`), read in a
//! single pass with `data` typed for the endpoint: a query's result goes straight into
//! [`QueryResult`] (strings borrowed from the answer where they have no escapes), instead of
//! being built as a `serde_json::Value` tree, copied and walked again.
//!
//! The backend reads its own queries (runbook steps, alerts) this way, and the browser reads the
//! query routes' answers this way: those routes forward Prometheus's bytes as they came, so the
//! proxy neither parses nor re-encodes what it only passes on ([`QueryAnswer`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::{QueryResult, ResultType, Series};

/// The envelope every read endpoint answers with, `data` read as `D`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Envelope<'a, D> {
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// Absent from an error answer (a missing `Option` field reads as `None`).
    pub data: Option<D>,
    #[serde(default, rename = "errorType", borrow)]
    pub error_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub error: Option<Cow<'a, str>>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One `[time, "value"]` pair; the value is text because Prometheus prints `NaN` and `±Inf`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Sample<'a>(pub f64, #[serde(borrow)] pub Cow<'a, str>);

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VectorItem<'a> {
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    /// Absent for a native histogram sample (`histogram`), which the chart does not draw.
    #[serde(default, borrow)]
    pub value: Option<Sample<'a>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MatrixItem<'a> {
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    /// Absent for a series of native histograms only (`histograms`).
    #[serde(default, borrow)]
    pub values: Vec<Sample<'a>>,
}

/// A query's `data`: the result's shape is named by `resultType`, which Prometheus writes first.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData<'a> {
    Vector(#[serde(borrow)] Vec<VectorItem<'a>>),
    Matrix(#[serde(borrow)] Vec<MatrixItem<'a>>),
    Scalar(#[serde(borrow)] Sample<'a>),
    String(#[serde(borrow)] Sample<'a>),
}

/// A finite number, or nothing (`NaN`, `±Inf` and text are kept only as `last_text`).
fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn series(metric: BTreeMap<String, String>, samples: Vec<Sample<'_>>) -> Series {
    let points = samples.iter().filter_map(|Sample(t, text)| number(text).map(|v| [*t, v])).collect();
    let last_text = samples.into_iter().next_back().map(|Sample(_, text)| text.into_owned());
    Series { labels: metric, points, last_text }
}

/// An answer of Prometheus's query API read as a [`QueryResult`]: the envelope and the result
/// in one pass. An error envelope is refused with Prometheus's own words.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnswer(pub QueryResult);

impl<'de> Deserialize<'de> for QueryAnswer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let envelope = Envelope::<'de, QueryData<'de>>::deserialize(deserializer)?;
        if envelope.status != "success" {
            let kind = envelope.error_type.as_deref().unwrap_or("error");
            let text = envelope.error.as_deref().unwrap_or("no error text");
            return Err(D::Error::custom(format!("Prometheus answered {kind}: {text}")));
        }
        let data = envelope.data.ok_or_else(|| D::Error::custom("a successful answer without data"))?;
        Ok(Self(query_result(data, envelope.warnings)))
    }
}

/// Reads a field that holds Prometheus's answer as a [`QueryResult`] (`deserialize_with`).
pub fn read_answer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<QueryResult, D::Error> {
    QueryAnswer::deserialize(deserializer).map(|answer| answer.0)
}

#[cfg(feature = "openapi")]
impl schemars::JsonSchema for QueryAnswer {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PrometheusQueryAnswer".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Envelope::<'static, QueryData<'static>>::json_schema(generator)
    }
}

/// A query's `data` (instant or range) as a [`QueryResult`].
pub fn query_result(data: QueryData<'_>, warnings: Vec<String>) -> QueryResult {
    let (result_type, series) = match data {
        QueryData::Vector(items) => (
            ResultType::Vector,
            items.into_iter().map(|item| series(item.metric, item.value.into_iter().collect())).collect(),
        ),
        QueryData::Matrix(items) => {
            (ResultType::Matrix, items.into_iter().map(|item| series(item.metric, item.values)).collect())
        }
        QueryData::Scalar(sample) => (ResultType::Scalar, vec![series(BTreeMap::new(), vec![sample])]),
        QueryData::String(sample) => (ResultType::String, vec![series(BTreeMap::new(), vec![sample])]),
    };
    QueryResult { result_type, series, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &str) -> Result<QueryResult, String> {
        let data: QueryData<'_> = serde_json::from_str(data).map_err(|e| e.to_string())?;
        Ok(query_result(data, vec![]))
    }

    #[test]
    fn matrix_keeps_finite_points_and_the_last_text() {
        let r = read(
            r#"{"resultType":"matrix","result":[
                {"metric":{"job":"a","path":"/x\"y"},"values":[[1,"1.5"],[2,"NaN"],[3,"2"]]},
                {"metric":{},"values":[[1,"+Inf"]]}]}"#,
        )
        .expect("matrix");
        assert_eq!(r.result_type, ResultType::Matrix);
        assert_eq!(r.series[0].points, vec![[1.0, 1.5], [3.0, 2.0]]);
        assert_eq!(r.series[0].last_text.as_deref(), Some("2"));
        assert_eq!(r.series[0].labels.get("path").map(String::as_str), Some("/x\"y"));
        assert!(r.series[1].points.is_empty());
        assert_eq!(r.series[1].last_text.as_deref(), Some("+Inf"));
    }

    #[test]
    fn vector_scalar_and_string() {
        let v = read(r#"{"resultType":"vector","result":[{"metric":{"__name__":"up"},"value":[5.5,"1"]}]}"#)
            .expect("vector");
        assert_eq!((v.result_type, v.series[0].points.clone()), (ResultType::Vector, vec![[5.5, 1.0]]));
        let s = read(r#"{"resultType":"scalar","result":[5,"-Inf"]}"#).expect("scalar");
        assert_eq!(s.result_type, ResultType::Scalar);
        assert!(s.series[0].points.is_empty());
        assert_eq!(s.series[0].last_text.as_deref(), Some("-Inf"));
        let t = read(r#"{"resultType":"string","result":[5,"hello"]}"#).expect("string");
        assert_eq!(t.series[0].last_text.as_deref(), Some("hello"));
    }

    #[test]
    fn the_tag_may_come_after_the_result() {
        let r = read(r#"{"result":[{"metric":{"a":"b"},"values":[[1,"3"]]}],"resultType":"matrix"}"#)
            .expect("tag last");
        assert_eq!(r.series[0].points, vec![[1.0, 3.0]]);
    }

    #[test]
    fn native_histograms_only_give_series_without_points() {
        let r =
            read(r#"{"resultType":"vector","result":[{"metric":{"a":"b"},"histogram":[1,{"count":"2"}]}]}"#)
                .expect("histogram");
        assert!(r.series[0].points.is_empty());
        assert_eq!(r.series[0].last_text, None);
    }

    #[test]
    fn a_whole_answer_reads_in_one_pass_and_an_error_is_refused_in_words() {
        let ok: QueryAnswer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]}]},"warnings":["w"]}"#,
        )
        .expect("answer");
        assert_eq!(
            (ok.0.series[0].points.clone(), ok.0.warnings.clone()),
            (vec![[1.0, 2.0]], vec!["w".to_owned()])
        );
        let error = serde_json::from_str::<QueryAnswer>(
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
        )
        .expect_err("error envelope");
        assert!(
            error.to_string().starts_with("Prometheus answered bad_data: parse error at char 3"),
            "{error}"
        );
    }

    #[test]
    fn malformed_results_are_refused_in_words() {
        for bad in [
            r#"{"resultType":"matrix","result":{"a":1}}"#,
            r#"{"resultType":"table","result":[]}"#,
            r#"{"resultType":"vector","result":[{"metric":{},"value":["x","1"]}]}"#,
            r#"{"result":[]}"#,
        ] {
            let error = read(bad).expect_err(bad);
            assert!(!error.is_empty(), "{bad}");
        }
    }
}
