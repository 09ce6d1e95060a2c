package api

import "github.com/usersync/usersync/pkg/model"

// UserJSON is the JSON of u and a newline, as the API writes it: what a
// UserReader's GetUserJSON returns. The tests' fake store uses it, and the
// test that holds PostgreSQL's rendering equal to Go's.
func UserJSON(u *model.User) ([]byte, error) {
	j := newUser(u)
	return appendJSON(nil, &j)
}
