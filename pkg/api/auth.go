package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/usersync/usersync/pkg/model"
)

// securityScheme names the bearer scheme in the OpenAPI document.
const securityScheme = "bearer"

// Operation metadata that widens who may call an operation. Auth fails
// closed: an operation without either needs a token, whatever
// PUBLIC_READS says.
const (
	// publicMetadata, set to true, marks an operation public: no token
	// needed, whatever PUBLIC_READS says. The probes, /metrics and the
	// documents are public but are not huma operations; no operation is
	// public today.
	publicMetadata = "usersapi-public"
	// publicReadMetadata, set to true on a read operation, opens it to
	// requests without a token when PUBLIC_READS is on: the mirror's data
	// and the state of the syncs. What PUBLIC_READS must not open — the
	// export history (token names, search texts) and the sync Jobs (each
	// call reaches the Kubernetes API) — simply does not set it.
	publicReadMetadata = "usersapi-public-read"
)

// openToPublicReads marks a read operation as one PUBLIC_READS opens.
func openToPublicReads(op *huma.Operation) {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[publicReadMetadata] = true
}

func isPublic(op *huma.Operation) bool {
	public, _ := op.Metadata[publicMetadata].(bool)
	return public
}

func isPublicRead(op *huma.Operation) bool {
	open, _ := op.Metadata[publicReadMetadata].(bool)
	return open
}

// declareSecurity adds the bearer scheme to the OpenAPI document.
func declareSecurity(oapi *huma.OpenAPI) {
	if oapi.Components.SecuritySchemes == nil {
		oapi.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	oapi.Components.SecuritySchemes[securityScheme] = &huma.SecurityScheme{
		Type:        "http",
		Scheme:      "bearer",
		Description: "A token from API_TOKENS_FILE. Scope read allows the GET operations; sync also allows starting syncs.",
	}
}

// security is an operation's OpenAPI security requirement: the bearer
// scope it declared, and, for a read operation open to public reads while
// PUBLIC_READS is on, the empty requirement too (a token is optional).
func (s *service) security(op *huma.Operation, scope string) []map[string][]string {
	req := []map[string][]string{{securityScheme: {scope}}}
	if scope == scopeRead && s.deps.PublicReads && isPublicRead(op) {
		req = append(req, map[string][]string{})
	}
	return req
}

// authenticate is the huma middleware that enforces each operation's
// declared scope. A request without a token gets 401, unless the scope is
// read, reads are public and the operation is open to them; a token that
// matches nothing gets 401 even then, so a misconfigured client learns its
// token is wrong; a token without the scope gets 403.
//
// Auth fails closed: an operation that declares no scope needs the
// strongest one, sync, unless it is marked public.
func (s *service) authenticate(hctx huma.Context, next func(huma.Context)) {
	op := hctx.Operation()
	need := requiredScope(op)
	if need == "" {
		if isPublic(op) {
			next(hctx)
			return
		}
		need = scopeSync
	}
	token, present, err := bearerToken(hctx.Header("Authorization"))
	if err != nil {
		s.writeError(hctx, err)
		return
	}
	if !present {
		if need == scopeRead && s.deps.PublicReads && isPublicRead(op) {
			next(hctx)
			return
		}
		s.writeError(hctx, fmt.Errorf("%w: this operation needs a bearer token with scope %s", model.ErrUnauthorized, need))
		return
	}
	have, name := "", ""
	if s.deps.Tokens != nil {
		have, name = s.deps.Tokens.lookup(token)
	}
	switch {
	case have == "":
		s.writeError(hctx, fmt.Errorf("%w: unknown bearer token", model.ErrUnauthorized))
	case need == scopeSync && have != scopeSync:
		s.writeError(hctx, fmt.Errorf("%w: this operation needs a token with scope %s", model.ErrForbidden, need))
	case name != "":
		// For the export history; a token without a name adds nothing.
		next(huma.WithValue(hctx, tokenNameKey{}, name))
	default:
		next(hctx)
	}
}

type tokenNameKey struct{}

// tokenName is the name of the token the request authenticated with, for
// the export history: "" without a token, or for a token without a name.
func tokenName(ctx context.Context) string {
	name, _ := ctx.Value(tokenNameKey{}).(string)
	return name
}

// requiredScope reads the scope an operation declared in its security
// requirement; "" when it declared none.
func requiredScope(op *huma.Operation) string {
	for _, req := range op.Security {
		if scopes := req[securityScheme]; len(scopes) > 0 {
			return scopes[0]
		}
	}
	return ""
}

// bearerToken extracts the token of an Authorization header. A header in
// another scheme is an error: the client meant to authenticate.
func bearerToken(header string) (token string, present bool, err error) {
	if header == "" {
		return "", false, nil
	}
	scheme, token, _ := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false, fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", model.ErrUnauthorized)
	}
	return token, true, nil
}
