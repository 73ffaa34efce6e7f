// yamlpeer reads YAML files exactly as kubectl does and prints the JSON that
// kubectl would build from each document: the reference that gitkube's own
// YAML reader is tested against (gitkube.testing.yamlpeer).
//
// kubectl's file visitor (k8s.io/cli-runtime/pkg/resource) wraps each file in
// a BOM-sniffing UTF-16/UTF-8 decoder, splits it with apimachinery's
// YAMLOrJSONDecoder (buffer 4096) into documents, converts each with
// sigs.k8s.io/yaml, trims it and skips empty and null documents. This program
// does the same with the same modules.
//
// Protocol, so that one process serves thousands of examples: each request
// on stdin is a decimal byte count on its own line followed by that many
// bytes; each answer is one JSON line on stdout:
//
//	{"docs": [<document>...]}                   what kubectl reads
//	{"error": "<message>"}                       what kubectl refuses
//
// plus "strict": "<message>" when sigs.k8s.io/yaml's strict reading (which
// refuses duplicate keys, as the API server's strict field validation does)
// refuses a document that the ordinary reading accepts.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	textunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

type answer struct {
	Docs   []json.RawMessage `json:"docs,omitempty"`
	Error  string            `json:"error,omitempty"`
	Strict string            `json:"strict,omitempty"`
}

func kubectlDecoded(file []byte) io.Reader {
	return transform.NewReader(bytes.NewReader(file), textunicode.BOMOverride(textunicode.UTF8.NewDecoder()))
}

func read(file []byte) (out answer) {
	defer func() {
		if r := recover(); r != nil {
			out = answer{Error: fmt.Sprintf("panic: %v", r)}
		}
	}()
	decoder := utilyaml.NewYAMLOrJSONDecoder(kubectlDecoded(file), 4096)
	docs := []json.RawMessage{}
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if err == io.EOF {
				break
			}
			return answer{Error: err.Error()}
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		// kubectl then decodes each object (unstructured JSON): numbers must
		// fit int64 or float64, and Go's decoder turns unpaired surrogate
		// escapes into U+FFFD.
		if err := numbersFit(raw); err != nil {
			return answer{Error: err.Error()}
		}
		decoded, err := asKubectlDecodes(raw)
		if err != nil {
			return answer{Error: err.Error()}
		}
		docs = append(docs, decoded)
	}
	return answer{Docs: docs, Strict: strictProblem(file)}
}

func asKubectlDecodes(raw []byte) (json.RawMessage, error) {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var value interface{}
	if err := decoder.Decode(&value); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(out.Bytes()), nil
}

func numbersFit(raw []byte) error {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	for {
		token, err := decoder.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if number, ok := token.(json.Number); ok {
			if _, err := number.Int64(); err != nil {
				if _, err := number.Float64(); err != nil {
					return fmt.Errorf("number %s fits neither int64 nor float64", number)
				}
			}
		}
	}
}

// strictProblem follows the decoder's path through the file again (the
// leading JSON values, then YAML pieces) and reads each YAML piece with
// YAMLToJSONStrict.
func strictProblem(file []byte) string {
	decoded, err := io.ReadAll(kubectlDecoded(file))
	if err != nil {
		return ""
	}
	rest := decoded
	if utilyaml.IsJSONBuffer(decoded[:min(len(decoded), 4096)]) {
		rest = afterLeadingJSON(decoded)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rest)))
	for {
		chunk, err := reader.Read()
		if err != nil {
			return ""
		}
		if _, err := sigsyaml.YAMLToJSONStrict(chunk); err != nil {
			return err.Error()
		}
	}
}

// afterLeadingJSON is where YAMLOrJSONDecoder switches to YAML: after the
// JSON values it read (at most one when it switches), past the whitespace up
// to and including the first newline.
func afterLeadingJSON(data []byte) []byte {
	decoder := json.NewDecoder(bytes.NewReader(data))
	consumed, count := int64(0), 0
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if err == io.EOF || count > 1 {
				return nil
			}
			break
		}
		count++
		consumed = decoder.InputOffset()
	}
	rest := data[consumed:]
	for len(rest) > 0 {
		r, size := utf8.DecodeRune(rest)
		if !unicode.IsSpace(r) {
			break
		}
		rest = rest[size:]
		if r == '\n' {
			break
		}
	}
	return rest
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for {
		header, err := in.ReadString('\n')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(header))
		if err != nil || size < 0 {
			fmt.Fprintf(os.Stderr, "yamlpeer: bad request header %q\n", header)
			os.Exit(2)
		}
		file := make([]byte, size)
		if _, err := io.ReadFull(in, file); err != nil {
			fmt.Fprintf(os.Stderr, "yamlpeer: short request: %v\n", err)
			os.Exit(2)
		}
		if err := encoder.Encode(read(file)); err != nil {
			fmt.Fprintf(os.Stderr, "yamlpeer: %v\n", err)
			os.Exit(2)
		}
		out.Flush()
	}
}
