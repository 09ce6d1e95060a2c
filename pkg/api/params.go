package api

import (
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// optional is a query parameter that may be absent: huma leaves pointer
// parameters nil even when given, so this wrapper records whether it was set.
type optional[T any] struct {
	Value T
	IsSet bool
}

// Schema documents the parameter as its value type.
func (o optional[T]) Schema(r huma.Registry) *huma.Schema {
	return huma.SchemaFromType(r, reflect.TypeFor[T]())
}

// Receiver implements huma.ParamWrapper.
func (o *optional[T]) Receiver() reflect.Value { return reflect.ValueOf(o).Elem().Field(0) }

// OnParamSet implements huma.ParamReactor.
func (o *optional[T]) OnParamSet(isSet bool, _ any) { o.IsSet = isSet }

func (o *optional[T]) ptr() *T {
	if !o.IsSet {
		return nil
	}
	v := o.Value
	return &v
}
