//! All integration tests link into this one binary (as in xsv): each extra
//! file in tests/ would link polars again, which costs minutes.

mod common;

mod test_adversarial;
mod test_baseline;
mod test_context;
mod test_examples;
mod test_explain;
mod test_faults;
mod test_focus;
mod test_golden;
mod test_ingest;
mod test_linear;
mod test_mapping;
mod test_output;
mod test_parquet;
mod test_properties;
mod test_report_html;
mod test_run;
mod test_sample;
mod test_several;
mod test_shards;
