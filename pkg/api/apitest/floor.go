package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/usersync/usersync/pkg/model"
)

// FloorHandler is a bare handler usersapi's GET /users/{id} is measured
// against, in the Go benchmarks and in hack/apibench: net/http and one
// lookup, with no auth, metrics, access log, ETag or problem bodies, the
// row encoded in Go with encoding/json.
func FloorHandler(getUser func(context.Context, int64) (*model.User, error)) http.Handler {
	return floor(func(w http.ResponseWriter, r *http.Request, id int64) error {
		u, err := getUser(r.Context(), id)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(u)
	})
}

// JSONFloorHandler is the leanest floor: net/http writing the bytes
// getUserJSON returns — in hack/apibench those of PostgreSQL's
// SELECT row_to_json(u) FROM users u WHERE id = $1 — as the body.
func JSONFloorHandler(getUserJSON func(context.Context, int64) ([]byte, error)) http.Handler {
	return floor(func(w http.ResponseWriter, r *http.Request, id int64) error {
		body, err := getUserJSON(r.Context(), id)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		_, err = w.Write(body)
		return err
	})
}

// floor serves GET /users/{id} with answer, and plain-text errors.
func floor(answer func(http.ResponseWriter, *http.Request, int64) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", http.StatusUnprocessableEntity)
			return
		}
		switch err := answer(w, r, id); {
		case errors.Is(err, model.ErrNotFound):
			http.Error(w, "not found", http.StatusNotFound)
		case err != nil:
			http.Error(w, "error", http.StatusInternalServerError)
		}
	})
	return mux
}
