//! What a statement asks of each table it reads, read with PostgreSQL's own grammar
//! (libpg_query, through the `pg_query` crate): every column is resolved through aliases, joins,
//! CTEs, subqueries in `FROM` and `WHERE` (correlated or not) to the base table it belongs to,
//! and the predicates that an index could serve are classified per table: equality (`=`, `IN`,
//! `= ANY`, `IS NULL`), range (`<`, `>`, `<=`, `>=`, `BETWEEN`), join keys (`a.x = b.y`, `USING`,
//! `x IN (SELECT …)`) and the sort of an `ORDER BY … LIMIT`. Only conjuncts count (a branch of
//! an `OR` or a `NOT` cannot lead an index alone), and only a bare column compared with something
//! that does not read the same row: `lower(email) = $1` or `a.x = a.y` serve no plain index.
//!
//! Normalized statements from `pg_stat_statements` (`$1` for every constant) parse as they are.
//! Names resolve against a [`Catalog`] of the tables the statements name and the search path, as
//! the server would; a relation the catalog does not know (a view, a function) is opaque: its
//! columns are attributed to nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pg_query::NodeEnum;
use pg_query::protobuf::{
    self, AExprKind, BoolExprType, Node, NullTestType, SetOperation, SubLinkType, Token,
};

/// A base table, schema-qualified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: String,
    pub table: String,
}

impl TableName {
    pub fn new(schema: &str, table: &str) -> Self {
        Self { schema: schema.to_owned(), table: table.to_owned() }
    }
}

/// The tables a statement may name, with their columns, and the schemas an unqualified name is
/// looked up in, in order.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    pub search_path: Vec<String>,
    pub tables: HashMap<TableName, Vec<String>>,
}

impl Catalog {
    fn resolve(&self, schema: &str, table: &str) -> Option<TableName> {
        if !schema.is_empty() {
            let t = TableName::new(schema, table);
            return self.tables.contains_key(&t).then_some(t);
        }
        self.search_path.iter().map(|s| TableName::new(s, table)).find(|t| self.tables.contains_key(t))
    }

    fn has_column(&self, t: &TableName, column: &str) -> bool {
        self.tables.get(t).is_some_and(|cols| cols.iter().any(|c| c == column))
    }
}

/// What one statement asks of one table. Columns in the order the statement names them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TableUse {
    pub equality: Vec<String>,
    pub range: Vec<String>,
    pub join: Vec<String>,
    /// The `ORDER BY` columns of a statement with a `LIMIT`, when all are bare columns of this table.
    pub sort: Vec<String>,
    /// Every column of the table the statement reads anywhere.
    pub referenced: BTreeSet<String>,
}

impl TableUse {
    /// Index column lists worth trying for this table, best first, each with how many of its
    /// leading columns are compared for equality: the equality columns then one range column;
    /// the equality columns then the sort; each join key alone.
    pub fn candidates(&self) -> Vec<(Vec<String>, usize)> {
        let mut out: Vec<(Vec<String>, usize)> = Vec::new();
        let mut push = |cols: Vec<String>, eq: usize| {
            if !cols.is_empty() && !out.iter().any(|(c, _)| *c == cols) {
                out.push((cols, eq));
            }
        };
        let eq = &self.equality;
        let mut filter = eq.clone();
        if let Some(r) = self.range.iter().find(|r| !eq.contains(r)) {
            filter.push(r.clone());
        }
        push(filter, eq.len());
        if !self.sort.is_empty() {
            let mut sorted = eq.clone();
            sorted.extend(self.sort.iter().filter(|s| !eq.contains(s)).cloned());
            push(sorted, eq.len());
        }
        for j in self.join.iter().filter(|j| !eq.contains(j)) {
            push(vec![j.clone()], 1);
        }
        out
    }
}

/// A statement read: what it asks of each known table, and how many `$n` parameters it has.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Shape {
    pub tables: BTreeMap<TableName, TableUse>,
    /// The highest `$n` in the text, which a generic plan must be given values for.
    pub params: usize,
    /// The relation names the statement mentions (as written, without schema).
    pub named: BTreeSet<String>,
    /// `SELECT`, `UPDATE`, `DELETE` or `INSERT`: what the planner can plan.
    pub plannable: bool,
}

/// A statement parsed once: its relation names first (to load the catalog), then [`analyze_parsed`].
pub struct Parsed {
    sql: String,
    tree: pg_query::ParseResult,
}

impl Parsed {
    /// The names of the relations the statement mentions (without schema), sorted.
    pub fn relation_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.tree.tables().into_iter().map(|t| last_part(&t).to_owned()).collect();
        names.sort();
        names.dedup();
        names
    }
}

pub fn parse(sql: &str) -> Result<Parsed, String> {
    let tree = pg_query::parse(sql).map_err(|e| e.to_string())?;
    Ok(Parsed { sql: sql.to_owned(), tree })
}

/// The names of the relations a statement mentions, without a catalog: which tables' columns
/// to load before [`analyze`].
pub fn relation_names(sql: &str) -> Result<Vec<String>, String> {
    parse(sql).map(|p| p.relation_names())
}

fn last_part(qualified: &str) -> &str {
    qualified.rsplit('.').next().unwrap_or(qualified)
}

/// Reads one statement (several in one text are refused: each is its own entry in
/// `pg_stat_statements`, and only one can be planned).
pub fn analyze(sql: &str, catalog: &Catalog) -> Result<Shape, String> {
    analyze_parsed(&parse(sql)?, catalog)
}

pub fn analyze_parsed(parsed: &Parsed, catalog: &Catalog) -> Result<Shape, String> {
    let stmts = &parsed.tree.protobuf.stmts;
    if stmts.len() != 1 {
        return Err(format!("{} statements in one text", stmts.len()));
    }
    let mut w = Walker { catalog, shape: Shape::default(), ctes: Vec::new() };
    if let Some(node) = stmts[0].stmt.as_deref() {
        w.shape.plannable = matches!(
            node.node,
            Some(
                NodeEnum::SelectStmt(_)
                    | NodeEnum::UpdateStmt(_)
                    | NodeEnum::DeleteStmt(_)
                    | NodeEnum::InsertStmt(_)
            )
        );
        w.statement(node, None);
    }
    w.shape.params = max_param(&parsed.sql);
    Ok(w.shape)
}

/// The highest `$n` the scanner finds (parameters can sit anywhere: `LIMIT $3`, function
/// arguments in `FROM`, `VALUES`).
fn max_param(sql: &str) -> usize {
    let Ok(scanned) = pg_query::scan(sql) else { return 0 };
    scanned
        .tokens
        .iter()
        .filter(|t| t.token == Token::Param as i32)
        .filter_map(|t| sql.get(usize::try_from(t.start).ok()?..usize::try_from(t.end).ok()?))
        .filter_map(|text| text.trim_start_matches('$').parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// A base column: table and column name.
type Base = Option<(TableName, String)>;

/// Where the columns of one `FROM` item come from.
#[derive(Debug, Clone)]
enum Source {
    Table(TableName),
    /// A subquery or CTE: its output columns, each traced to a base column when it is one.
    Derived(Vec<(String, Base)>),
    /// A function, `VALUES`, a view or anything the catalog does not know.
    Opaque,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The alias, else the relation's name.
    name: String,
    /// The schema written before the name, when there is no alias.
    schema: Option<String>,
    source: Source,
}

/// The `FROM` items visible at one level, and the enclosing level (for correlated references).
struct Scope<'a> {
    entries: Vec<Entry>,
    parent: Option<&'a Scope<'a>>,
}

/// A column reference resolved: at which level (0 = this one), which item, and its base column.
#[derive(Debug, Clone)]
struct Col {
    depth: usize,
    entry: usize,
    base: Base,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Equality,
    Range,
    Join,
}

struct Walker<'c> {
    catalog: &'c Catalog,
    shape: Shape,
    /// CTEs in scope, innermost last.
    ctes: Vec<(String, Vec<(String, Base)>)>,
}

fn node(n: &Node) -> Option<&NodeEnum> {
    n.node.as_ref()
}

fn string(n: &Node) -> Option<&str> {
    match node(n) {
        Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
        _ => None,
    }
}

/// The fields of a column reference; `None` for `*` or anything but names.
fn fields(c: &protobuf::ColumnRef) -> Option<Vec<&str>> {
    c.fields.iter().map(string).collect()
}

fn renamed(mut cols: Vec<(String, Base)>, names: &[Node]) -> Vec<(String, Base)> {
    for (i, n) in names.iter().enumerate() {
        if let (Some(name), Some(col)) = (string(n), cols.get_mut(i)) {
            col.0 = name.to_owned();
        }
    }
    cols
}

impl Walker<'_> {
    fn statement(&mut self, n: &Node, parent: Option<&Scope<'_>>) {
        match node(n) {
            Some(NodeEnum::SelectStmt(s)) => {
                self.select(s, parent);
            }
            Some(NodeEnum::UpdateStmt(u)) => {
                let mark = self.ctes.len();
                if let Some(w) = &u.with_clause {
                    self.with(w, parent);
                }
                let mut scope = Scope { entries: Vec::new(), parent };
                let mut conditions = Vec::new();
                if let Some(rv) = &u.relation {
                    self.range_var(rv, &mut scope);
                }
                for item in &u.from_clause {
                    self.add_from_item(item, &mut scope, &mut conditions);
                }
                conditions.extend(u.where_clause.as_deref());
                for c in conditions {
                    self.condition(c, &scope);
                }
                for t in u.target_list.iter().chain(&u.returning_list) {
                    self.expr(t, &scope);
                }
                self.ctes.truncate(mark);
            }
            Some(NodeEnum::DeleteStmt(d)) => {
                let mark = self.ctes.len();
                if let Some(w) = &d.with_clause {
                    self.with(w, parent);
                }
                let mut scope = Scope { entries: Vec::new(), parent };
                let mut conditions = Vec::new();
                if let Some(rv) = &d.relation {
                    self.range_var(rv, &mut scope);
                }
                for item in &d.using_clause {
                    self.add_from_item(item, &mut scope, &mut conditions);
                }
                conditions.extend(d.where_clause.as_deref());
                for c in conditions {
                    self.condition(c, &scope);
                }
                for t in &d.returning_list {
                    self.expr(t, &scope);
                }
                self.ctes.truncate(mark);
            }
            Some(NodeEnum::InsertStmt(i)) => {
                let mark = self.ctes.len();
                if let Some(w) = &i.with_clause {
                    self.with(w, parent);
                }
                if let Some(rv) = &i.relation {
                    self.shape.named.insert(rv.relname.clone());
                }
                if let Some(s) = i.select_stmt.as_deref() {
                    self.statement(s, parent);
                }
                self.ctes.truncate(mark);
            }
            _ => {}
        }
    }

    fn with(&mut self, w: &protobuf::WithClause, parent: Option<&Scope<'_>>) {
        for cte in &w.ctes {
            let Some(NodeEnum::CommonTableExpr(c)) = node(cte) else { continue };
            let cols = match c.ctequery.as_deref().and_then(node) {
                Some(NodeEnum::SelectStmt(s)) => self.select(s, parent),
                Some(_) => {
                    if let Some(q) = c.ctequery.as_deref() {
                        self.statement(q, parent);
                    }
                    Vec::new()
                }
                None => Vec::new(),
            };
            self.ctes.push((c.ctename.clone(), renamed(cols, &c.aliascolnames)));
        }
    }

    /// Walks a `SELECT` (or set operation) and gives its output columns.
    fn select(&mut self, s: &protobuf::SelectStmt, parent: Option<&Scope<'_>>) -> Vec<(String, Base)> {
        let mark = self.ctes.len();
        if let Some(w) = &s.with_clause {
            self.with(w, parent);
        }
        let op = s.op();
        let out = if op != SetOperation::SetopNone && op != SetOperation::Undefined {
            let left = s.larg.as_deref().map(|l| self.select(l, parent)).unwrap_or_default();
            if let Some(r) = s.rarg.as_deref() {
                self.select(r, parent);
            }
            left
        } else {
            let mut scope = Scope { entries: Vec::new(), parent };
            let mut conditions = Vec::new();
            for item in &s.from_clause {
                self.add_from_item(item, &mut scope, &mut conditions);
            }
            conditions.extend(s.where_clause.as_deref());
            for c in conditions {
                self.condition(c, &scope);
            }
            for n in s.values_lists.iter().chain(&s.target_list).chain(&s.group_clause).chain(&s.sort_clause)
            {
                self.expr(n, &scope);
            }
            if let Some(h) = s.having_clause.as_deref() {
                self.expr(h, &scope);
            }
            if s.limit_count.is_some() {
                self.sort(&s.sort_clause, &scope);
            }
            self.outputs(&s.target_list, &scope)
        };
        self.ctes.truncate(mark);
        out
    }

    fn add_from_item<'n>(&mut self, n: &'n Node, scope: &mut Scope<'_>, conditions: &mut Vec<&'n Node>) {
        match node(n) {
            Some(NodeEnum::RangeVar(rv)) => self.range_var(rv, scope),
            Some(NodeEnum::JoinExpr(j)) => {
                let start = scope.entries.len();
                if let Some(l) = j.larg.as_deref() {
                    self.add_from_item(l, scope, conditions);
                }
                let middle = scope.entries.len();
                if let Some(r) = j.rarg.as_deref() {
                    self.add_from_item(r, scope, conditions);
                }
                for name in j.using_clause.iter().filter_map(string) {
                    for side in [start..middle, middle..scope.entries.len()] {
                        let base = scope.entries[side].iter().find_map(|e| self.column_of(e, name));
                        if let Some(Some((t, c))) = base {
                            self.mark(&t, &c, Kind::Join);
                        }
                    }
                }
                conditions.extend(j.quals.as_deref());
            }
            Some(NodeEnum::RangeSubselect(rs)) => {
                let cols = match rs.subquery.as_deref().and_then(node) {
                    Some(NodeEnum::SelectStmt(s)) if rs.lateral => {
                        let so_far = Scope { entries: scope.entries.clone(), parent: scope.parent };
                        self.select(s, Some(&so_far))
                    }
                    Some(NodeEnum::SelectStmt(s)) => self.select(s, scope.parent),
                    _ => Vec::new(),
                };
                let (name, cols) = match &rs.alias {
                    Some(a) => (a.aliasname.clone(), renamed(cols, &a.colnames)),
                    None => (String::new(), cols),
                };
                scope.entries.push(Entry { name, schema: None, source: Source::Derived(cols) });
            }
            Some(NodeEnum::RangeFunction(rf)) => {
                {
                    let so_far = Scope { entries: scope.entries.clone(), parent: scope.parent };
                    for f in &rf.functions {
                        self.expr(f, &so_far);
                    }
                }
                let name = rf.alias.as_ref().map(|a| a.aliasname.clone()).unwrap_or_default();
                scope.entries.push(Entry { name, schema: None, source: Source::Opaque });
            }
            _ => {}
        }
    }

    fn range_var(&mut self, rv: &protobuf::RangeVar, scope: &mut Scope<'_>) {
        self.shape.named.insert(rv.relname.clone());
        let alias = rv.alias.as_ref().map(|a| a.aliasname.clone());
        let name = alias.clone().unwrap_or_else(|| rv.relname.clone());
        if rv.schemaname.is_empty()
            && let Some((_, cols)) = self.ctes.iter().rev().find(|(n, _)| *n == rv.relname)
        {
            let cols = match &rv.alias {
                Some(a) => renamed(cols.clone(), &a.colnames),
                None => cols.clone(),
            };
            scope.entries.push(Entry { name, schema: None, source: Source::Derived(cols) });
            return;
        }
        let source = match self.catalog.resolve(&rv.schemaname, &rv.relname) {
            Some(t) => {
                self.shape.tables.entry(t.clone()).or_default();
                Source::Table(t)
            }
            None => Source::Opaque,
        };
        let schema = if alias.is_some() {
            None
        } else {
            match &source {
                Source::Table(t) => Some(t.schema.clone()),
                _ => Some(rv.schemaname.clone()),
            }
        };
        scope.entries.push(Entry { name, schema, source });
    }

    /// `Some(base)` when the item has the column (`base` is `None` when it is not a base column).
    fn column_of(&self, e: &Entry, column: &str) -> Option<Base> {
        match &e.source {
            Source::Table(t) => {
                self.catalog.has_column(t, column).then(|| Some((t.clone(), column.to_owned())))
            }
            Source::Derived(cols) => cols.iter().find(|(n, _)| n == column).map(|(_, b)| b.clone()),
            Source::Opaque => None,
        }
    }

    fn resolve_in(&self, scope: &Scope<'_>, f: &[&str]) -> Option<(usize, Base)> {
        match f {
            [column] => {
                if let Some(found) = scope
                    .entries
                    .iter()
                    .enumerate()
                    .find_map(|(i, e)| self.column_of(e, column).map(|b| (i, b)))
                {
                    return Some(found);
                }
                // A lone relation whose columns are unknown owns what is not found elsewhere.
                (scope.entries.len() == 1 && matches!(scope.entries[0].source, Source::Opaque))
                    .then_some((0, None))
            }
            [qualifier, column] => {
                let i = scope.entries.iter().rposition(|e| e.name == *qualifier)?;
                Some((i, self.column_of(&scope.entries[i], column).flatten()))
            }
            [schema, table, column] => {
                let i = scope
                    .entries
                    .iter()
                    .rposition(|e| e.name == *table && e.schema.as_deref() == Some(schema))?;
                Some((i, self.column_of(&scope.entries[i], column).flatten()))
            }
            _ => None,
        }
    }

    fn resolve(&self, scope: &Scope<'_>, c: &protobuf::ColumnRef) -> Option<Col> {
        let f = fields(c)?;
        let mut level = Some(scope);
        let mut depth = 0;
        while let Some(s) = level {
            if let Some((entry, base)) = self.resolve_in(s, &f) {
                return Some(Col { depth, entry, base });
            }
            depth += 1;
            level = s.parent;
        }
        None
    }

    /// The column when `n` is a bare column reference.
    fn bare(&self, n: Option<&Node>, scope: &Scope<'_>) -> Option<Col> {
        match n.and_then(node) {
            Some(NodeEnum::ColumnRef(c)) => self.resolve(scope, c),
            _ => None,
        }
    }

    fn mark(&mut self, t: &TableName, column: &str, kind: Kind) {
        let u = self.shape.tables.entry(t.clone()).or_default();
        let list = match kind {
            Kind::Equality => &mut u.equality,
            Kind::Range => &mut u.range,
            Kind::Join => &mut u.join,
        };
        if !list.iter().any(|c| c == column) {
            list.push(column.to_owned());
        }
    }

    fn mark_col(&mut self, c: &Col, kind: Kind) {
        if let Some((t, column)) = &c.base {
            self.mark(t, column, kind);
        }
    }

    /// Whether `n` reads a column of item `entry` at this level (then `col op n` serves no index).
    fn reads_item(&self, n: Option<&Node>, scope: &Scope<'_>, entry: usize) -> bool {
        let mut refs = Vec::new();
        if let Some(n) = n {
            column_refs(n, &mut refs);
        }
        refs.iter().any(|c| self.resolve(scope, c).is_some_and(|c| c.depth == 0 && c.entry == entry))
    }

    /// A conjunct of `WHERE` or `ON`.
    fn condition(&mut self, n: &Node, scope: &Scope<'_>) {
        match node(n) {
            Some(NodeEnum::BoolExpr(b)) if b.boolop() == BoolExprType::AndExpr => {
                for a in &b.args {
                    self.condition(a, scope);
                }
                return;
            }
            Some(NodeEnum::AExpr(a)) => self.comparison(a, scope),
            Some(NodeEnum::NullTest(t)) if t.nulltesttype() == NullTestType::IsNull => {
                if let Some(c) = self.bare(t.arg.as_deref(), scope).filter(|c| c.depth == 0) {
                    self.mark_col(&c, Kind::Equality);
                }
            }
            Some(NodeEnum::SubLink(s)) if s.sub_link_type() == SubLinkType::AnySublink => {
                if let Some(c) = self.bare(s.testexpr.as_deref(), scope).filter(|c| c.depth == 0) {
                    self.mark_col(&c, Kind::Join);
                }
            }
            _ => {}
        }
        self.expr(n, scope);
    }

    fn comparison(&mut self, a: &protobuf::AExpr, scope: &Scope<'_>) {
        let op = a.name.last().and_then(string).unwrap_or_default();
        let (l, r) = (a.lexpr.as_deref(), a.rexpr.as_deref());
        let kind = match (a.kind(), op) {
            (AExprKind::AexprOp, "=") => Kind::Equality,
            (AExprKind::AexprOp, "<" | ">" | "<=" | ">=") => Kind::Range,
            (AExprKind::AexprOpAny | AExprKind::AexprIn, "=") => {
                if let Some(c) =
                    self.bare(l, scope).filter(|c| c.depth == 0 && !self.reads_item(r, scope, c.entry))
                {
                    self.mark_col(&c, Kind::Equality);
                }
                return;
            }
            (AExprKind::AexprBetween | AExprKind::AexprBetweenSym, _) => {
                if let Some(c) =
                    self.bare(l, scope).filter(|c| c.depth == 0 && !self.reads_item(r, scope, c.entry))
                {
                    self.mark_col(&c, Kind::Range);
                }
                return;
            }
            _ => return,
        };
        match (self.bare(l, scope), self.bare(r, scope)) {
            (Some(x), Some(y)) => match (x.depth, y.depth) {
                (0, 0) if x.entry != y.entry && kind == Kind::Equality => {
                    self.mark_col(&x, Kind::Join);
                    self.mark_col(&y, Kind::Join);
                }
                // Correlated: the outer column is a constant for this level's lookup.
                (0, d) if d > 0 => {
                    self.mark_col(&x, kind);
                    if kind == Kind::Equality {
                        self.mark_col(&y, Kind::Join);
                    }
                }
                (d, 0) if d > 0 => {
                    self.mark_col(&y, kind);
                    if kind == Kind::Equality {
                        self.mark_col(&x, Kind::Join);
                    }
                }
                _ => {}
            },
            (Some(x), None) if x.depth == 0 && !self.reads_item(r, scope, x.entry) => self.mark_col(&x, kind),
            (None, Some(y)) if y.depth == 0 && !self.reads_item(l, scope, y.entry) => self.mark_col(&y, kind),
            _ => {}
        }
    }

    /// `ORDER BY` bare columns of one table, with a `LIMIT`: an index in that order ends the scan early.
    fn sort(&mut self, sort_clause: &[Node], scope: &Scope<'_>) {
        let mut cols: Vec<(TableName, String)> = Vec::new();
        for s in sort_clause {
            let Some(NodeEnum::SortBy(sb)) = node(s) else { return };
            let Some(c) = self.bare(sb.node.as_deref(), scope).filter(|c| c.depth == 0) else { return };
            let Some(base) = c.base else { return };
            cols.push(base);
        }
        let Some((table, _)) = cols.first().cloned() else { return };
        if cols.iter().any(|(t, _)| *t != table) {
            return;
        }
        let u = self.shape.tables.entry(table).or_default();
        if u.sort.is_empty() {
            u.sort = cols.into_iter().map(|(_, c)| c).collect();
        }
    }

    fn outputs(&self, target_list: &[Node], scope: &Scope<'_>) -> Vec<(String, Base)> {
        let mut out = Vec::new();
        for t in target_list {
            let Some(NodeEnum::ResTarget(r)) = node(t) else { continue };
            match r.val.as_deref().and_then(node) {
                Some(NodeEnum::ColumnRef(c))
                    if matches!(c.fields.last().and_then(node), Some(NodeEnum::AStar(_))) =>
                {
                    let qualifier: Vec<&str> = c.fields.iter().filter_map(string).collect();
                    for e in scope.entries.iter().filter(|e| qualifier.last().is_none_or(|q| e.name == *q)) {
                        match &e.source {
                            Source::Table(tn) => out.extend(
                                self.catalog
                                    .tables
                                    .get(tn)
                                    .into_iter()
                                    .flatten()
                                    .map(|c| (c.clone(), Some((tn.clone(), c.clone())))),
                            ),
                            Source::Derived(cols) => out.extend(cols.iter().cloned()),
                            Source::Opaque => {}
                        }
                    }
                }
                Some(NodeEnum::ColumnRef(c)) => {
                    let name = if r.name.is_empty() {
                        c.fields.last().and_then(string).unwrap_or_default().to_owned()
                    } else {
                        r.name.clone()
                    };
                    out.push((name, self.resolve(scope, c).and_then(|c| c.base)));
                }
                _ => out.push((r.name.clone(), None)),
            }
        }
        out
    }

    /// Any expression: records the columns it reads and walks the subqueries inside it.
    fn expr(&mut self, n: &Node, scope: &Scope<'_>) {
        let mut children: Vec<&Node> = Vec::new();
        match node(n) {
            Some(NodeEnum::ColumnRef(c)) => {
                if let Some(Col { base: Some((t, column)), .. }) = self.resolve(scope, c) {
                    self.shape.tables.entry(t).or_default().referenced.insert(column);
                }
            }
            Some(NodeEnum::SubLink(s)) => {
                children.extend(s.testexpr.as_deref());
                if let Some(NodeEnum::SelectStmt(sel)) = s.subselect.as_deref().and_then(node) {
                    self.select(sel, Some(scope));
                }
            }
            _ => expression_children(n, &mut children),
        }
        for c in children {
            self.expr(c, scope);
        }
    }
}

/// The sub-expressions of an expression node (not subqueries).
fn expression_children<'n>(n: &'n Node, out: &mut Vec<&'n Node>) {
    match node(n) {
        Some(NodeEnum::AExpr(a)) => out.extend(a.lexpr.as_deref().into_iter().chain(a.rexpr.as_deref())),
        Some(NodeEnum::BoolExpr(b)) => out.extend(&b.args),
        Some(NodeEnum::NullTest(t)) => out.extend(t.arg.as_deref()),
        Some(NodeEnum::TypeCast(t)) => out.extend(t.arg.as_deref()),
        Some(NodeEnum::FuncCall(f)) => {
            out.extend(f.args.iter().chain(&f.agg_order));
            out.extend(f.agg_filter.as_deref());
        }
        Some(NodeEnum::CaseExpr(c)) => {
            out.extend(c.arg.as_deref());
            out.extend(&c.args);
            out.extend(c.defresult.as_deref());
        }
        Some(NodeEnum::CaseWhen(w)) => out.extend(w.expr.as_deref().into_iter().chain(w.result.as_deref())),
        Some(NodeEnum::CoalesceExpr(c)) => out.extend(&c.args),
        Some(NodeEnum::MinMaxExpr(m)) => out.extend(&m.args),
        Some(NodeEnum::RowExpr(r)) => out.extend(&r.args),
        Some(NodeEnum::AArrayExpr(a)) => out.extend(&a.elements),
        Some(NodeEnum::AIndirection(a)) => out.extend(a.arg.as_deref()),
        Some(NodeEnum::List(l)) => out.extend(&l.items),
        Some(NodeEnum::ResTarget(r)) => out.extend(r.val.as_deref()),
        Some(NodeEnum::SortBy(s)) => out.extend(s.node.as_deref()),
        _ => {}
    }
}

/// The column references of an expression, not looking into subqueries.
fn column_refs<'n>(n: &'n Node, out: &mut Vec<&'n protobuf::ColumnRef>) {
    if let Some(NodeEnum::ColumnRef(c)) = node(n) {
        out.push(c);
        return;
    }
    let mut children = Vec::new();
    expression_children(n, &mut children);
    for c in children {
        column_refs(c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let mut tables = HashMap::new();
        let mut add = |schema: &str, table: &str, cols: &[&str]| {
            tables.insert(TableName::new(schema, table), cols.iter().map(|c| (*c).to_owned()).collect());
        };
        add("public", "orders", &["id", "customer_id", "status", "created_at", "total"]);
        add("public", "customers", &["id", "region", "email", "created_at"]);
        add("public", "events", &["event_id", "event_type", "user_id", "timestamp", "payload"]);
        add("audit", "events", &["id", "actor", "at"]);
        Catalog { search_path: vec!["public".to_owned()], tables }
    }

    fn t(table: &str) -> TableName {
        TableName::new("public", table)
    }

    fn shape(sql: &str) -> Shape {
        match analyze(sql, &catalog()) {
            Ok(s) => s,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    fn cols(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn equality_then_range_in_btree_order() {
        let s = shape(
            "SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM events
             WHERE timestamp > $1 AND event_type = $2",
        );
        let u = &s.tables[&t("events")];
        assert_eq!(u.equality, ["event_type"]);
        assert_eq!(u.range, ["timestamp"]);
        assert_eq!(u.candidates(), [(cols(&["event_type", "timestamp"]), 1)]);
        assert_eq!(s.params, 2);
        assert!(s.plannable);
    }

    #[test]
    fn a_join_filter_belongs_to_the_joined_table_not_the_driving_one() {
        // The defect the token scan had: `region` is the customers' column, and the orders side
        // needs its join key, not a composite led by its primary key.
        let s = shape(
            "SELECT o.id, o.total FROM orders o JOIN customers AS c ON c.id = o.customer_id
             WHERE region = $1 AND o.created_at >= $2",
        );
        let orders = &s.tables[&t("orders")];
        assert_eq!(orders.join, ["customer_id"]);
        assert_eq!(orders.range, ["created_at"]);
        assert!(orders.equality.is_empty(), "{orders:?}");
        let customers = &s.tables[&t("customers")];
        assert_eq!(customers.equality, ["region"]);
        assert_eq!(customers.join, ["id"]);
        assert_eq!(customers.candidates()[0], (cols(&["region"]), 1));
        assert!(orders.candidates().contains(&(cols(&["customer_id"]), 1)), "{:?}", orders.candidates());
    }

    #[test]
    fn ctes_subqueries_and_correlation_resolve_to_base_tables() {
        let s = shape(
            "WITH recent AS (SELECT * FROM orders WHERE created_at > $1)
             SELECT r.id FROM recent r WHERE r.status = $2
               AND EXISTS (SELECT 1 FROM customers c WHERE c.id = r.customer_id AND c.email = $3)",
        );
        let orders = &s.tables[&t("orders")];
        assert_eq!(orders.range, ["created_at"]);
        assert_eq!(orders.equality, ["status"], "through the CTE's star");
        assert_eq!(orders.join, ["customer_id"], "the outer side of a correlated subquery");
        let customers = &s.tables[&t("customers")];
        assert_eq!(customers.equality, ["id", "email"]);

        let s =
            shape("SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE region = $1)");
        assert_eq!(s.tables[&t("orders")].join, ["customer_id"]);
        assert_eq!(s.tables[&t("customers")].equality, ["region"]);

        let s = shape(
            "SELECT x.n FROM (SELECT customer_id AS cid, count(*) AS n FROM orders GROUP BY customer_id) x
             WHERE x.cid = $1",
        );
        assert_eq!(s.tables[&t("orders")].equality, ["customer_id"], "through the subquery's alias");
    }

    #[test]
    fn order_by_limit_wants_a_sort_index() {
        let s = shape("SELECT * FROM orders WHERE status = $1 ORDER BY created_at DESC LIMIT $2");
        let u = &s.tables[&t("orders")];
        assert_eq!(u.sort, ["created_at"]);
        assert_eq!(u.candidates(), [(cols(&["status"]), 1), (cols(&["status", "created_at"]), 1)]);
        assert_eq!(s.params, 2);
        let s = shape("SELECT * FROM orders ORDER BY created_at");
        assert!(s.tables[&t("orders")].sort.is_empty(), "no LIMIT: the whole table is read anyway");
    }

    #[test]
    fn what_no_plain_index_serves_is_left_out() {
        let s = shape(
            "SELECT * FROM customers WHERE lower(email) = $1 OR region = $2 AND NOT (id = $3)
               AND created_at::date = $4 AND id <> $5",
        );
        assert_eq!(
            s.tables[&t("customers")],
            TableUse {
                referenced: ["created_at", "email", "id", "region"].into_iter().map(str::to_owned).collect(),
                ..TableUse::default()
            }
        );
        let s =
            shape("SELECT * FROM orders o WHERE o.created_at > o.id::text::timestamptz AND o.total IS NULL");
        assert!(s.tables[&t("orders")].range.is_empty());
        assert_eq!(s.tables[&t("orders")].equality, ["total"]);
    }

    #[test]
    fn schemas_in_and_any_between_updates_and_deletes() {
        let s = shape("SELECT * FROM audit.events e WHERE e.actor = ANY($1) AND at BETWEEN $2 AND $3");
        let audit = &s.tables[&TableName::new("audit", "events")];
        assert_eq!(audit.equality, ["actor"]);
        assert_eq!(audit.range, ["at"]);
        assert!(!s.tables.contains_key(&t("events")), "public.events is not read");
        let s = shape("UPDATE orders SET status = $1 WHERE customer_id IN ($2, $3) RETURNING id");
        assert_eq!(s.tables[&t("orders")].equality, ["customer_id"]);
        let s = shape("DELETE FROM orders o USING customers c WHERE c.id = o.customer_id AND c.region = $1");
        assert_eq!(s.tables[&t("orders")].join, ["customer_id"]);
        assert_eq!(s.tables[&t("customers")].equality, ["region"]);
        let s = shape("SELECT * FROM orders JOIN customers USING (id) WHERE $1 > total");
        assert_eq!(s.tables[&t("orders")].join, ["id"]);
        assert_eq!(s.tables[&t("orders")].range, ["total"]);
        assert_eq!(s.tables[&t("customers")].join, ["id"]);
    }

    #[test]
    fn unknown_relations_and_bad_text() {
        let s = shape("SELECT * FROM some_view v WHERE v.status = $1");
        assert!(s.tables.is_empty(), "a view is not a table to index: {s:?}");
        assert!(s.named.contains("some_view"));
        assert!(analyze("SELECT * FROM", &catalog()).is_err());
        assert!(analyze("SELECT 1; SELECT 2", &catalog()).is_err());
        let s = shape("VACUUM orders");
        assert!(!s.plannable);
        assert_eq!(
            relation_names("SELECT * FROM public.orders o JOIN customers c ON true").ok(),
            Some(cols(&["customers", "orders"]))
        );
    }

    mod property {
        use proptest::prelude::*;

        use super::*;

        /// A small grammar: tables with aliases, joins, subqueries, CTEs and predicates over
        /// their columns (and some names that exist nowhere).
        fn column() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("id"),
                Just("customer_id"),
                Just("status"),
                Just("created_at"),
                Just("region"),
                Just("email"),
                Just("nope"),
                Just("total")
            ]
            .prop_map(str::to_owned)
        }

        fn table() -> impl Strategy<Value = String> {
            prop_oneof![Just("orders"), Just("customers"), Just("events"), Just("ghost")]
                .prop_map(str::to_owned)
        }

        fn predicate(aliases: Vec<String>) -> impl Strategy<Value = String> {
            let qualified = (proptest::sample::select(aliases), column(), any::<bool>())
                .prop_map(|(a, c, q)| if q { format!("{a}.{c}") } else { c })
                .boxed();
            let q2 = qualified.clone();
            prop_oneof![
                (qualified.clone(), prop_oneof![Just("="), Just("<"), Just(">="), Just("<>")], 1..9u8)
                    .prop_map(|(c, op, n)| format!("{c} {op} ${n}")),
                (qualified.clone(), q2.clone()).prop_map(|(a, b)| format!("{a} = {b}")),
                qualified.clone().prop_map(|c| format!("{c} IS NULL")),
                (qualified.clone(), 1..9u8).prop_map(|(c, n)| format!("{c} IN (${n}, 2)")),
                (q2, table(), column(), 1..9u8)
                    .prop_map(|(c, t, col, n)| format!("{c} IN (SELECT {col} FROM {t} WHERE {col} = ${n})")),
                qualified.prop_map(|c| format!("lower({c}::text) = 'x'")),
            ]
        }

        fn statement() -> impl Strategy<Value = String> {
            (table(), table(), any::<bool>(), 0..3usize, any::<bool>(), any::<bool>())
                .prop_flat_map(|(a, b, join, n, cte, limit)| {
                    let aliases = vec!["a".to_owned(), if join { "b".to_owned() } else { "a".to_owned() }];
                    (
                        Just((a, b, join, cte, limit)),
                        proptest::collection::vec(predicate(aliases), n..=n + 1),
                        column(),
                    )
                })
                .prop_map(|((a, b, join, cte, limit), preds, sort)| {
                    let from = if cte { "w".to_owned() } else { a.clone() };
                    let mut sql = if cte { format!("WITH w AS (SELECT * FROM {a}) ") } else { String::new() };
                    sql.push_str(&format!("SELECT * FROM {from} a"));
                    if join {
                        sql.push_str(&format!(" JOIN (SELECT * FROM {b}) b ON a.id = b.id"));
                    }
                    if !preds.is_empty() {
                        sql.push_str(" WHERE ");
                        sql.push_str(&preds.join(if limit { " AND " } else { " OR " }));
                    }
                    if limit {
                        sql.push_str(&format!(" ORDER BY a.{sort} LIMIT $9"));
                    }
                    sql
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
            #[test]
            fn every_column_belongs_to_a_table_the_statement_names(sql in statement()) {
                let catalog = catalog();
                let s = analyze(&sql, &catalog).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
                for (table, u) in &s.tables {
                    prop_assert!(s.named.contains(&table.table), "{sql}: {table:?} is not named");
                    let known = &catalog.tables[table];
                    for c in u.equality.iter().chain(&u.range).chain(&u.join).chain(&u.sort).chain(&u.referenced) {
                        prop_assert!(known.contains(c), "{sql}: {c} is not a column of {table:?}");
                    }
                    for (cols, eq) in u.candidates() {
                        prop_assert!(eq <= cols.len() && !cols.is_empty(), "{sql}: {cols:?} {eq}");
                    }
                }
            }
        }
    }
}
