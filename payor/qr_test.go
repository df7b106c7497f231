package payor_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skip2/go-qrcode"

	"github.com/settlepay/settle/payor"
)

const testURI = "ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@1337/transfer?address=0x70997970C51812dc3A010C7d01b50e0d17dc79C8&uint256=25000001"

// tooLong does not fit in a QR code of the largest version at any level.
var tooLong = strings.Repeat("x", 8000)

func TestQRPNG(t *testing.T) {
	t.Parallel()
	for _, size := range []int{320, 100, 57} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			b, err := payor.QRPNG(testURI, size)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if r := img.Bounds(); r.Dx() != size || r.Dy() != size {
				t.Fatalf("image %v, want %d×%d", r, size, size)
			}
			var dark, light int
			for y := range size {
				for x := range size {
					if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
						dark++
					} else {
						light++
					}
				}
			}
			if dark == 0 || light == 0 {
				t.Fatalf("%d dark and %d light pixels, want both", dark, light)
			}
			// Each module is a whole number of pixels, the code centred.
			bm := bitmap(t, testURI)
			n := len(bm)
			scale := size / n
			offset := (size - n*scale) / 2
			for y, row := range bm {
				for x, want := range row {
					px, py := offset+x*scale+scale/2, offset+y*scale+scale/2
					if r, _, _, _ := img.At(px, py).RGBA(); (r < 0x8000) != want {
						t.Fatalf("module (%d,%d) at pixel (%d,%d): dark %t, want %t", x, y, px, py, r < 0x8000, want)
					}
				}
			}
			// The corners are quiet zone.
			for _, p := range [][2]int{{0, 0}, {size - 1, 0}, {0, size - 1}, {size - 1, size - 1}} {
				if r, _, _, _ := img.At(p[0], p[1]).RGBA(); r < 0x8000 {
					t.Errorf("corner %v is dark", p)
				}
			}
		})
	}
}

func TestQRPNGSmall(t *testing.T) {
	t.Parallel()
	b, err := payor.QRPNG(testURI, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bitmap(t, testURI)); img.Bounds().Dx() != n {
		t.Fatalf("image %v, want one pixel for each of %d modules", img.Bounds(), n)
	}
	if _, err := payor.QRPNG(testURI, 0); err == nil {
		t.Fatal("size 0 accepted")
	}
}

func TestQRSVG(t *testing.T) {
	t.Parallel()
	b, err := payor.QRSVG(testURI)
	if err != nil {
		t.Fatal(err)
	}
	var (
		root     xml.StartElement
		viewBox  string
		crisp    bool
		path     string
		elements int
	)
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed: %v\n%s", err, b)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if elements++; elements == 1 {
			root = el
		}
		for _, a := range el.Attr {
			switch {
			case el.Name.Local == "svg" && a.Name.Local == "viewBox":
				viewBox = a.Value
			case el.Name.Local == "svg" && a.Name.Local == "shape-rendering":
				crisp = a.Value == "crispEdges"
			case el.Name.Local == "path" && a.Name.Local == "d":
				path = a.Value
			case a.Name.Local == "href" || strings.Contains(a.Value, "url("):
				t.Errorf("external reference %s=%q", a.Name.Local, a.Value)
			}
		}
	}
	if root.Name.Local != "svg" || root.Name.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root %v, want svg in the SVG namespace", root.Name)
	}
	if !crisp {
		t.Error(`no shape-rendering="crispEdges"`)
	}

	bm := bitmap(t, testURI)
	n := len(bm)
	if want := "0 0 " + strconv.Itoa(n) + " " + strconv.Itoa(n); viewBox != want {
		t.Fatalf("viewBox %q, want %q (%d modules with the quiet zone)", viewBox, want, n)
	}
	// The path draws exactly the dark modules of the code.
	drawn := make([][]bool, n)
	for i := range drawn {
		drawn[i] = make([]bool, n)
	}
	re := regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
	if rest := re.ReplaceAllString(path, ""); rest != "" {
		t.Fatalf("path has more than runs of modules: %q", rest)
	}
	for _, m := range re.FindAllStringSubmatch(path, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		run, _ := strconv.Atoi(m[3])
		if m[4] != m[3] || x+run > n || y >= n {
			t.Fatalf("run %q is out of the code", m[0])
		}
		for i := range run {
			drawn[y][x+i] = true
		}
	}
	for y := range n {
		for x := range n {
			if drawn[y][x] != bm[y][x] {
				t.Fatalf("module (%d,%d) drawn %t, want %t", x, y, drawn[y][x], bm[y][x])
			}
		}
	}
	for i := range 4 { // the quiet zone
		if drawn[i][i] || drawn[n-1-i][n-1-i] {
			t.Fatalf("module (%d,%d) of the quiet zone is dark", i, i)
		}
	}
}

func TestQRTooLong(t *testing.T) {
	t.Parallel()
	if _, err := payor.QRPNG(tooLong, 320); err == nil {
		t.Error("PNG of a text too long for a QR code")
	}
	if _, err := payor.QRSVG(tooLong); err == nil {
		t.Error("SVG of a text too long for a QR code")
	}
}

// bitmap is the code the payor package draws, as go-qrcode makes it.
func bitmap(t *testing.T, text string) [][]bool {
	t.Helper()
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	return q.Bitmap()
}
