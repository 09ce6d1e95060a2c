package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/usersync/usersync/pkg/model"
)

// FloorHandler is the bare handler usersapi's GET /users/{id} is measured
// against, in the Go benchmarks and in hack/apibench: net/http and one
// lookup, with no auth, metrics, access log, ETag or problem bodies — the
// least code that answers the same request from the same store.
func FloorHandler(getUser func(context.Context, int64) (*model.User, error)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", http.StatusUnprocessableEntity)
			return
		}
		u, err := getUser(r.Context(), id)
		if errors.Is(err, model.ErrNotFound) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, "error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u)
	})
	return mux
}
