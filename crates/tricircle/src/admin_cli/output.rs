//! Printing results: an aligned table (the default) or JSON.

use serde_json::Value;

use super::{CliError, Format};

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `a.b` looks up `b` inside `a`.
fn lookup<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let border =
        format!("+{}+", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c}{} ", " ".repeat(w - c.chars().count())))
            .collect();
        format!("|{}|", parts.join("|"))
    };
    let mut out = vec![border.clone(), line(headers.to_vec()), border.clone()];
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.push(border);
    out.join("\n")
}

pub fn print_list(format: Format, items: &Value, columns: &[(&str, &str)]) -> Result<(), CliError> {
    let empty = Vec::new();
    let items = items.as_array().unwrap_or(&empty);
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(items).unwrap_or_default()),
        Format::Table => {
            let headers: Vec<&str> = columns.iter().map(|(_, h)| *h).collect();
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|it| columns.iter().map(|(k, _)| cell(lookup(it, k))).collect())
                .collect();
            println!("{}", render(&headers, &rows));
        }
    }
    Ok(())
}

pub fn print_object(format: Format, object: &Value) -> Result<(), CliError> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(object).unwrap_or_default()),
        Format::Table => {
            let rows: Vec<Vec<String>> = object
                .as_object()
                .map(|o| o.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect())
                .unwrap_or_default();
            println!("{}", render(&["Field", "Value"], &rows));
        }
    }
    Ok(())
}

/// Named values as a two-column table, in the given order (a value may
/// span lines).
pub fn print_fields(rows: &[(String, String)]) {
    let mut lines: Vec<Vec<String>> = Vec::new();
    for (k, v) in rows {
        let mut parts = v.lines();
        lines.push(vec![k.clone(), parts.next().unwrap_or_default().to_string()]);
        lines.extend(parts.map(|p| vec![String::new(), p.to_string()]));
    }
    println!("{}", render(&["Field", "Value"], &lines));
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_is_aligned() {
        let t = super::render(&["ID", "Name"], &[vec!["1".into(), "alpha".into()]]);
        assert_eq!(
            t,
            "+----+-------+\n| ID | Name  |\n+----+-------+\n| 1  | alpha |\n+----+-------+"
        );
    }
}
