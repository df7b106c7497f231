package payor

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/skip2/go-qrcode"
)

// qrLevel is the error correction of payment QR codes: medium recovers
// about 15% of the modules, enough for a phone held at a screen.
const qrLevel = qrcode.Medium

// qrBitmap encodes text; the bitmap includes the quiet zone, dark modules
// are true.
func qrBitmap(text string) ([][]bool, error) {
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return q.Bitmap(), nil
}

// QRPNG returns text as a QR code in a square PNG of size pixels. Every
// module is the same whole number of pixels and the rest of the image is
// light margin around the code. A size smaller than the code's module count
// (its quiet zone included) yields an image of one pixel per module.
func QRPNG(text string, size int) ([]byte, error) {
	if size <= 0 {
		return nil, errors.New("qr code: size must be positive")
	}
	bm, err := qrBitmap(text)
	if err != nil {
		return nil, err
	}
	n := len(bm)
	size = max(size, n)
	scale := size / n
	offset := (size - n*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range bm {
		for x, dark := range row {
			if !dark {
				continue
			}
			for py := range scale {
				start := img.PixOffset(offset+x*scale, offset+y*scale+py)
				for i := range scale {
					img.Pix[start+i] = 1 // black in the palette
				}
			}
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img); err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return b.Bytes(), nil
}

// qrSVGModulePixels is the SVG's default rendered size of one module; CSS
// may scale it, the viewBox keeps the proportions.
const qrSVGModulePixels = 8

// QRSVG returns text as a QR code in a self-contained SVG: one path of dark
// modules on a light square, in a viewBox of one unit per module with the
// quiet zone included, and crisp edges so that scaling keeps it sharp.
func QRSVG(text string) ([]byte, error) {
	bm, err := qrBitmap(text)
	if err != nil {
		return nil, err
	}
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`,
		n, n, n*qrSVGModulePixels, n*qrSVGModulePixels)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			// One rectangle per horizontal run of dark modules.
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes(), nil
}
