package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// csvTable writes values of a JSON element type J as CSV records: one
// column per JSON field, named and ordered as in the JSON, so the two
// formats cannot drift apart. Cells are what the JSON says, as text: null
// is an empty cell, booleans true/false, timestamps RFC 3339, lists and
// custom_fields the JSON text. Text a spreadsheet would run as a formula is
// neutralised (see neutralise).
type csvTable[J any] struct {
	header []string
	cols   []csvColumn
}

type csvColumn struct {
	field int
	cell  func(reflect.Value) string
}

// newCSVTable derives the columns of J from its fields' json tags. It
// panics on a field type it does not know: a programming error the tests
// of every exported type catch.
func newCSVTable[J any]() *csvTable[J] {
	t := &csvTable[J]{}
	typ := reflect.TypeFor[J]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		t.header = append(t.header, name)
		t.cols = append(t.cols, csvColumn{field: i, cell: csvCell(f.Type, typ.Name()+"."+f.Name)})
	}
	return t
}

var timeType = reflect.TypeFor[time.Time]()

// csvCell returns the function that renders a field of type t as a cell.
func csvCell(t reflect.Type, name string) func(reflect.Value) string {
	if t.Kind() == reflect.Pointer {
		elem := csvCell(t.Elem(), name)
		return func(v reflect.Value) string {
			if v.IsNil() {
				return ""
			}
			return elem(v.Elem())
		}
	}
	switch {
	case t == timeType:
		return func(v reflect.Value) string { return v.Interface().(time.Time).Format(time.RFC3339Nano) }
	case t.Kind() == reflect.String:
		return func(v reflect.Value) string { return neutralise(v.String()) }
	case t.Kind() == reflect.Int64 || t.Kind() == reflect.Int32:
		return func(v reflect.Value) string { return strconv.FormatInt(v.Int(), 10) }
	case t.Kind() == reflect.Float64:
		return func(v reflect.Value) string { return strconv.FormatFloat(v.Float(), 'f', -1, 64) }
	case t.Kind() == reflect.Bool:
		return func(v reflect.Value) string { return strconv.FormatBool(v.Bool()) }
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Map:
		return func(v reflect.Value) string {
			if v.IsNil() {
				return ""
			}
			b, err := json.Marshal(v.Interface())
			if err != nil {
				// Lists of ids and strings, maps of strings: cannot fail.
				panic(fmt.Sprintf("csv: encode %s: %v", name, err))
			}
			return neutralise(string(b))
		}
	}
	panic(fmt.Sprintf("csv: field %s has type %s, which has no cell format", name, t))
}

// record fills rec (len(t.header) long) with the cells of j.
func (t *csvTable[J]) record(j *J, rec []string) {
	v := reflect.ValueOf(j).Elem()
	for i, c := range t.cols {
		rec[i] = c.cell(v.Field(c.field))
	}
}

// neutralise keeps a spreadsheet from running text as a formula (CSV
// injection): text that starts with =, +, -, @, a tab or a carriage
// return gets a leading apostrophe, which spreadsheets show as text and
// hide. A plain number such as -12.50 or +49 is left as it is: it is no
// formula, and quoting it would turn it into text.
func neutralise(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if plainNumber(s) {
			return s
		}
		return "'" + s
	}
	return s
}

// plainNumber reports whether s is [+-]digits[.digits].
func plainNumber(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	return digits(intPart) && (!hasFrac || digits(frac))
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
