package mockgdmf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxControlBody bounds a control-API request body.
const maxControlBody = 64 << 10

// handleFaults serves /_mock/faults:
//
//	GET     the installed faults
//	POST    install a fault object or an array of them (each replaces the
//	        installed fault of its kind); answers with the installed faults
//	DELETE  remove every fault
func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
	case http.MethodPost:
		body, ok := readControlBody(w, r)
		if !ok {
			return
		}
		faults, err := DecodeFaults(body)
		if err != nil {
			controlError(w, http.StatusBadRequest, "%v", err)
			return
		}
		s.mu.Lock()
		for _, f := range faults {
			s.setFaultLocked(f)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.Faults())
	case http.MethodDelete:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		controlError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
	}
}

// handleRequests serves /_mock/requests: GET lists the recorded requests,
// DELETE forgets them (Reset).
func (s *Server) handleRequests(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Requests())
	case http.MethodDelete:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, DELETE")
		controlError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
	}
}

// ControlError is the body of every control-API error.
type ControlError struct {
	Error string `json:"error"`
}

func controlError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, ControlError{Error: fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// readControlBody reads a control request's body, at most maxControlBody
// bytes; when it cannot, it answers the error (413 or 400) and reports
// false.
func readControlBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			controlError(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxControlBody)
			return nil, false
		}
		controlError(w, http.StatusBadRequest, "reading body: %v", err)
		return nil, false
	}
	return body, true
}
