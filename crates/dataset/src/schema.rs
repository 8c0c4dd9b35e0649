//! The table definitions, loaded from `schemas/*.json` (the one place they are written).
//!
//! Each JSON file defines one table: its columns in order, each with a name, a type, whether
//! it may be null, a unit, what it means and how it is computed, and whether it is
//! deterministic (`"deterministic": false` marks the `measured_*` columns, which depend on
//! timing). The Rust writers build their Arrow schemas from these files, the Spark job builds
//! its own from the same files, and `schemas/README.md` is generated from them; tests fail
//! when any of the three drift.
//!
//! # Types
//! A column type is one of `bool`, `int32`, `int64`, `float64`, `utf8`, `binary`,
//! `{"list": TYPE}` (items named `item`, never null) or `{"struct": [COLUMN, ...]}`. Only
//! types that Spark, pandas, DuckDB and polars all read losslessly are used: no unsigned
//! integers (Spark has none, and its Arrow bridge rejects them) and no fixed-size binary
//! (Spark's Arrow bridge rejects it); hashes, addresses and 256-bit words are `binary` of a
//! fixed, documented length, big-endian.

use std::{fmt::Write as _, sync::Arc, sync::OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use serde::Deserialize;

use crate::DatasetError;

/// The version of the table definitions, recorded in every checkpoint manifest. Bump it
/// (and `schema_version` in every JSON file) when a column changes.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON sources, in the order the README lists them.
const SOURCES: [(&str, &str); 5] = [
    ("archive", include_str!("../../../schemas/archive.json")),
    ("blocks", include_str!("../../../schemas/blocks.json")),
    (
        "transactions",
        include_str!("../../../schemas/transactions.json"),
    ),
    ("conflicts", include_str!("../../../schemas/conflicts.json")),
    ("hotspots", include_str!("../../../schemas/hotspots.json")),
];

/// The four result tables, in output order.
pub const RESULT_TABLES: [&str; 4] = ["blocks", "transactions", "conflicts", "hotspots"];

/// A column type, as written in the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ColumnType {
    /// `bool`, `int32`, `int64`, `float64`, `utf8` or `binary`.
    Primitive(String),
    /// `{"list": TYPE}`.
    List {
        /// The item type.
        list: Box<ColumnType>,
    },
    /// `{"struct": [COLUMN, ...]}`.
    Struct {
        /// The fields.
        #[serde(rename = "struct")]
        fields: Vec<Column>,
    },
}

/// One column (or struct field).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether it may be null.
    pub nullable: bool,
    /// Unit, when it has one.
    pub unit: Option<String>,
    /// What it means.
    pub description: String,
    /// How it is computed.
    pub computed: String,
    /// False for the `measured_*` columns, which depend on timing.
    #[serde(default = "yes")]
    pub deterministic: bool,
}

const fn yes() -> bool {
    true
}

/// One table definition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Table name (also its directory under the results folder).
    pub table: String,
    /// Must equal [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What the table holds.
    pub description: String,
    /// What one row is.
    pub rows: String,
    /// The hive partition column (stored in directory names, not in the files), if any.
    pub partition_column: Option<String>,
    /// The columns rows are sorted by, in order.
    pub sort_key: Vec<String>,
    /// The columns, in order.
    pub columns: Vec<Column>,
}

impl ColumnType {
    /// The Arrow type.
    ///
    /// # Errors
    /// [`DatasetError::Schema`] for a type name outside the grammar.
    pub fn arrow(&self) -> Result<DataType, DatasetError> {
        Ok(match self {
            Self::Primitive(name) => match name.as_str() {
                "bool" => DataType::Boolean,
                "int32" => DataType::Int32,
                "int64" => DataType::Int64,
                "float64" => DataType::Float64,
                "utf8" => DataType::Utf8,
                "binary" => DataType::Binary,
                other => return Err(DatasetError::Schema(format!("unknown type `{other}`"))),
            },
            Self::List { list } => {
                DataType::List(Arc::new(Field::new("item", list.arrow()?, false)))
            }
            Self::Struct { fields } => DataType::Struct(
                fields
                    .iter()
                    .map(Column::arrow)
                    .collect::<Result<Fields, _>>()?,
            ),
        })
    }

    /// The type as the README writes it, e.g. `list<struct<kind: utf8, ...>>`.
    pub fn display(&self) -> String {
        match self {
            Self::Primitive(name) => name.clone(),
            Self::List { list } => format!("list<{}>", list.display()),
            Self::Struct { fields } => format!(
                "struct<{}>",
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, f.ty.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl Column {
    /// The Arrow field.
    ///
    /// # Errors
    /// As [`ColumnType::arrow`].
    pub fn arrow(&self) -> Result<Field, DatasetError> {
        Ok(Field::new(&self.name, self.ty.arrow()?, self.nullable))
    }
}

impl Table {
    /// The Arrow schema of the table's record batches, partition column included.
    pub fn arrow_schema(&self) -> SchemaRef {
        // Every definition was converted once at load time, so this cannot fail.
        let fields: Vec<Field> = self.columns.iter().filter_map(|c| c.arrow().ok()).collect();
        Arc::new(Schema::new(fields))
    }

    /// The schema of the Parquet files: without the partition column, which hive-style
    /// layouts store in the directory name.
    pub fn file_schema(&self) -> SchemaRef {
        let schema = self.arrow_schema();
        let fields: Vec<_> = schema
            .fields()
            .iter()
            .filter(|f| Some(f.name()) != self.partition_column.as_ref())
            .cloned()
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Names of the columns that depend on timing (`"deterministic": false`).
    pub fn measured_columns(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| !c.deterministic)
            .map(|c| c.name.as_str())
            .collect()
    }
}

fn load() -> Result<Vec<Table>, DatasetError> {
    SOURCES
        .iter()
        .map(|(name, text)| {
            let table: Table = serde_json::from_str(text)
                .map_err(|e| DatasetError::Schema(format!("schemas/{name}.json: {e}")))?;
            if table.table != *name {
                return Err(DatasetError::Schema(format!(
                    "schemas/{name}.json defines table `{}`",
                    table.table
                )));
            }
            if table.schema_version != SCHEMA_VERSION {
                return Err(DatasetError::Schema(format!(
                    "schemas/{name}.json has schema_version {}, the code expects {SCHEMA_VERSION}",
                    table.schema_version
                )));
            }
            for column in &table.columns {
                column.arrow()?;
            }
            let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
            for key in table.sort_key.iter().chain(&table.partition_column) {
                if !names.contains(&key.as_str()) {
                    return Err(DatasetError::Schema(format!(
                        "schemas/{name}.json: `{key}` is not a column"
                    )));
                }
            }
            Ok(table)
        })
        .collect()
}

/// Every table definition (archive first, then the result tables), loaded once.
///
/// # Errors
/// [`DatasetError::Schema`] when the compiled-in JSON is not a valid set of definitions
/// (never, for a build that passed its tests: the `schema` tests load it).
pub fn tables() -> Result<&'static [Table], DatasetError> {
    static TABLES: OnceLock<Result<Vec<Table>, String>> = OnceLock::new();
    TABLES
        .get_or_init(|| load().map_err(|e| format!("invalid compiled-in schema: {e}")))
        .as_deref()
        .map_err(|e| DatasetError::Schema(e.clone()))
}

/// The definition of table `name` (`archive`, `blocks`, `transactions`, `conflicts`,
/// `hotspots`).
///
/// # Errors
/// [`DatasetError::Schema`] for an unknown name (or invalid compiled-in definitions).
pub fn table(name: &str) -> Result<&'static Table, DatasetError> {
    tables()?
        .iter()
        .find(|t| t.table == name)
        .ok_or_else(|| DatasetError::Schema(format!("no table `{name}`")))
}

/// The archive's Arrow schema (`schemas/archive.json`).
///
/// # Errors
/// As [`table`] (never, for a build that passed its tests).
pub fn archive_schema() -> Result<SchemaRef, DatasetError> {
    Ok(table("archive")?.arrow_schema())
}

/// The schema of result table `name` (partition column included).
///
/// # Errors
/// [`DatasetError::Schema`] for an unknown table.
pub fn result_schema(name: &str) -> Result<SchemaRef, DatasetError> {
    Ok(table(name)?.arrow_schema())
}

/// The text of `schemas/README.md`: a fixed preamble (see `schemas/README.head.md`) followed
/// by one section per table, generated from the JSON.
///
/// # Errors
/// As [`tables`].
pub fn readme() -> Result<String, DatasetError> {
    let mut out = String::from(include_str!("../../../schemas/README.head.md"));
    for table in tables()? {
        let _ = write!(
            out,
            "\n## `{}`\n\n{}\n\nOne row: {}. Sorted by {}.",
            table.table,
            table.description,
            table.rows,
            table
                .sort_key
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match &table.partition_column {
            Some(p) => {
                let _ = write!(
                    out,
                    " Partitioned by `{p}`: `{}/{p}=<value>/part-00000.parquet`.",
                    table.table
                );
            }
            None => out.push_str(" Not partitioned: `ARCHIVE/part-NNNNN.parquet`."),
        }
        out.push_str("\n\n| column | type | null | unit | meaning | how it is computed |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for column in &table.columns {
            write_column(&mut out, "", column);
        }
    }
    Ok(out)
}

fn write_column(out: &mut String, prefix: &str, column: &Column) {
    let name = format!("{prefix}{}", column.name);
    let ty = match &column.ty {
        ColumnType::Primitive(p) => p.clone(),
        ColumnType::List { list } => match list.as_ref() {
            ColumnType::Struct { .. } => "list<struct>".to_owned(),
            other => format!("list<{}>", other.display()),
        },
        ColumnType::Struct { .. } => "struct".to_owned(),
    };
    let measured = if column.deterministic {
        ""
    } else {
        " *(measured)*"
    };
    let _ = writeln!(
        out,
        "| `{name}`{measured} | {ty} | {} | {} | {} | {} |",
        if column.nullable { "yes" } else { "no" },
        column.unit.as_deref().unwrap_or(""),
        column.description.replace('|', "\\|"),
        column.computed.replace('|', "\\|"),
    );
    let children = match &column.ty {
        ColumnType::Struct { fields } => Some(fields),
        ColumnType::List { list } => match list.as_ref() {
            ColumnType::Struct { fields } => Some(fields),
            _ => None,
        },
        ColumnType::Primitive(_) => None,
    };
    for child in children.into_iter().flatten() {
        write_column(out, &format!("{name}[]."), child);
    }
}
