package ddm

import (
	"errors"
	"fmt"
	"strings"
)

// The DDM synchronisation protocol's answers (tokens, declaration-items),
// read strictly.

// DDM limits: a server's answers beyond them are refused.
const (
	MaxDeclarations = 10000
	MaxTokenLength  = 1024
)

// The DDM synchronisation protocol: tokens, declaration-items and
// declaration/<kind>/<id>, read strictly.

// SyncTokens is a TokensResponse.
type SyncTokens struct {
	DeclarationsToken string
}

// ParseTokens reads a TokensResponse strictly: SyncTokens with a string
// DeclarationsToken.
func ParseTokens(data []byte) (*SyncTokens, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("ddm: tokens: %w", err)
	}
	if is := validateProtocol("TokensResponse", v); len(is.problems) > 0 {
		return nil, fmt.Errorf("ddm: tokens: %s", is)
	}
	st, _ := v.(map[string]any)["SyncTokens"].(map[string]any)
	tok, ok := st["DeclarationsToken"].(string)
	switch {
	case !ok:
		return nil, errors.New("ddm: tokens: SyncTokens.DeclarationsToken missing or not a string")
	case len(tok) > MaxTokenLength:
		return nil, errors.New("ddm: tokens: DeclarationsToken too long")
	}
	if ts, ok := st["Timestamp"]; ok {
		if _, isString := ts.(string); !isString {
			return nil, errors.New("ddm: tokens: SyncTokens.Timestamp is not a string")
		}
	}
	return &SyncTokens{DeclarationsToken: tok}, nil
}

// DeclarationItem is one entry of declaration-items.
type DeclarationItem struct {
	Kind, ID, Token string
}

// itemLists maps DeclarationItemsResponse's lists to declaration kinds,
// in the order the device fetches them.
var itemLists = []struct{ key, kind string }{
	{"Activations", KindActivation}, {"Configurations", KindConfiguration}, {"Assets", KindAsset}, {"Management", KindManagement},
}

// ParseDeclarationItems reads a DeclarationItemsResponse strictly.
func ParseDeclarationItems(data []byte) (items []DeclarationItem, token string, err error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, "", fmt.Errorf("ddm: declaration-items: %w", err)
	}
	if is := validateProtocol("DeclarationItemsResponse", v); !is.ok() {
		return nil, "", fmt.Errorf("ddm: declaration-items: %s", is)
	}
	m := v.(map[string]any)
	token = m["DeclarationsToken"].(string)
	if len(token) > MaxTokenLength {
		return nil, "", errors.New("ddm: declaration-items: DeclarationsToken too long")
	}
	lists := m["Declarations"].(map[string]any)
	seen := map[string]bool{}
	for _, l := range itemLists {
		for _, e := range lists[l.key].([]any) {
			e := e.(map[string]any)
			it := DeclarationItem{Kind: l.kind, ID: e["Identifier"].(string), Token: e["ServerToken"].(string)}
			if seen[it.ID] {
				return nil, "", fmt.Errorf("ddm: declaration-items: identifier %q listed twice", it.ID)
			}
			if it.ID == "" || len(it.ID) > MaxDeclarationIDLength || strings.ContainsAny(it.ID, "/\x00") || len(it.Token) > MaxDeclarationIDLength {
				return nil, "", fmt.Errorf("ddm: declaration-items: unusable identifier or token %.80q", it.ID)
			}
			seen[it.ID] = true
			items = append(items, it)
		}
	}
	if len(items) > MaxDeclarations {
		return nil, "", fmt.Errorf("ddm: declaration-items: %d declarations, more than %d", len(items), MaxDeclarations)
	}
	return items, token, nil
}
