package openapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/payor"
)

// Point of sale: locations, static QR codes and the sessions their scans
// open (see invoice/qr.go and payor/qrpage.go).

// CreateLocationBody is a new location.
type CreateLocationBody struct {
	Name string `json:"name" minLength:"1" maxLength:"200" example:"Vending machine, hall B" doc:"What the location is called in your reports."`
}

// CreateQRCodeBody is a new static QR code.
type CreateQRCodeBody struct {
	LocationID            string `json:"location_id" maxLength:"64" example:"loc_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"The location (sales channel) the code belongs to, in the key's mode."`
	QRCode                string `json:"qr_code,omitempty" maxLength:"64" example:"hall-b-07" doc:"The serial in the printed URL: 3 to 64 characters of A-Z, a-z, 0-9, '-' and '_', starting with a letter or digit, case-sensitive, unique among your codes of both modes (the URL names no mode) and never reused, even after deactivation. Default: 16 generated characters."`
	Description           string `json:"description,omitempty" maxLength:"1000" example:"Sticker on the front panel"`
	AllowTip              bool   `json:"allow_tip,omitempty" example:"true" doc:"Passed to the receiver in the start request, which decides whether its invoice offers a tip."`
	AllowDynamicInvoice   bool   `json:"allow_dynamic_invoice,omitempty" example:"false" doc:"A scan whose dynamic data holds amount and currency creates its invoice at once, without a start request (pay at table). Anyone who can build such a URL chooses the amount: enable it only where the payor is meant to pay what the code says."`
	OrderTimeoutSeconds   int64  `json:"order_timeout_seconds,omitempty" minimum:"5" maximum:"3600" example:"120" doc:"How long after a scan the invoice may be created (default 120); then the session is timed_out and the receiver is told."`
	PaymentTimeoutSeconds int64  `json:"payment_timeout_seconds,omitempty" minimum:"60" maximum:"604800" example:"900" doc:"The expiry of the session's invoice when its creator gives none (default 900)."`
	StartWebhookURL       string `json:"qr_start_webhook_url" maxLength:"2048" example:"https://machine.example/settle/start" doc:"Where scans send start_qr_session (and canceled, timed_out) requests. The same address rules as webhook endpoints: public hosts only unless the operator allows private ones; https in live mode."`
}

type createLocationInput struct {
	IdempotencyHeader
	Body CreateLocationBody
}

type createQRCodeInput struct {
	IdempotencyHeader
	Body CreateQRCodeBody
}

// ObjectIDParam is the {id} of a location, QR code or QR session path.
type ObjectIDParam struct {
	ID string `path:"id" maxLength:"64" example:"qrc_06f0r5v3q8k2d1b4n7m9c0x2zs"`
}

// listPageInput is the query of a plain list: a cursor and a page size.
type listPageInput struct {
	After string `query:"after" maxLength:"64" doc:"Cursor: the last id of the previous page."`
	Limit int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

// LocationList is one page of locations, newest first.
type LocationList struct {
	Object  string                   `json:"object" enum:"list"`
	Data    []invoice.LocationObject `json:"data" nullable:"false"`
	HasMore bool                     `json:"has_more"`
}

// QRCodeList is one page of QR codes, newest first.
type QRCodeList struct {
	Object  string                 `json:"object" enum:"list"`
	Data    []invoice.QRCodeObject `json:"data" nullable:"false"`
	HasMore bool                   `json:"has_more"`
}

type qrImageInput struct {
	ObjectIDParam
	Format string `query:"format" enum:"png,svg" default:"png"`
	Size   int    `query:"size" minimum:"64" maximum:"2048" default:"512" doc:"PNG width and height in pixels."`
}

func (s *server) registerQRCodes(api huma.API) {
	tags := []string{"Point of sale"}
	huma.Register(api, huma.Operation{
		OperationID: "create-location", Method: http.MethodPost, Path: "/api/v1/locations",
		Summary: "Create a location", Tags: tags, DefaultStatus: http.StatusCreated, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "A sales channel (a shop, a machine, a table area) that QR codes belong to; invoices created for a scan carry its location_id.",
	}, s.createLocation)
	huma.Register(api, huma.Operation{
		OperationID: "list-locations", Method: http.MethodGet, Path: "/api/v1/locations",
		Summary: "List locations", Tags: tags, Errors: errsRead,
	}, s.listLocations)
	huma.Register(api, huma.Operation{
		OperationID: "get-location", Method: http.MethodGet, Path: "/api/v1/locations/{id}",
		Summary: "Retrieve a location", Tags: tags, Errors: errsRead,
	}, s.getLocation)
	huma.Register(api, huma.Operation{
		OperationID: "deactivate-location", Method: http.MethodDelete, Path: "/api/v1/locations/{id}",
		Summary: "Deactivate a location", Tags: tags, Errors: errsWrite,
		Description: "Scans of its codes open no session from now on. The location is kept (active: false) for the invoices that name it.",
	}, s.deactivateLocation)
	huma.Register(api, huma.Operation{
		OperationID: "create-qr-code", Method: http.MethodPost, Path: "/api/v1/qr-codes",
		Summary: "Create a static QR code", Tags: tags, DefaultStatus: http.StatusCreated, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "A printable code: its url (/q/{merchant}/{qr_code}) opens a waiting page that sends a signed start_qr_session request to qr_start_webhook_url. The response shows qr_start_webhook_secret (whsec_…) this once. A serial already used is refused with 422 qr_code_taken.",
	}, s.createQRCode)
	huma.Register(api, huma.Operation{
		OperationID: "list-qr-codes", Method: http.MethodGet, Path: "/api/v1/qr-codes",
		Summary: "List QR codes", Tags: tags, Errors: errsRead,
	}, s.listQRCodes)
	huma.Register(api, huma.Operation{
		OperationID: "get-qr-code", Method: http.MethodGet, Path: "/api/v1/qr-codes/{id}",
		Summary: "Retrieve a QR code", Tags: tags, Errors: errsRead,
	}, s.getQRCode)
	huma.Register(api, huma.Operation{
		OperationID: "deactivate-qr-code", Method: http.MethodDelete, Path: "/api/v1/qr-codes/{id}",
		Summary: "Deactivate a QR code", Tags: tags, Errors: errsWrite,
		Description: "Scanning it shows that it is out of service. Its serial stays taken, so a printed sticker never reaches another code.",
	}, s.deactivateQRCode)
	huma.Register(api, huma.Operation{
		OperationID: "get-qr-code-image", Method: http.MethodGet, Path: "/api/v1/qr-codes/{id}/qr",
		Summary: "The printable QR code", Tags: tags, Errors: errsRead,
		Description: "The code's url as a QR code, PNG (size pixels) or SVG. A merchant may as well print its own: any QR code of the same url works.",
		Responses: map[string]*huma.Response{"200": {Description: "The QR code", Content: map[string]*huma.MediaType{
			"image/png": {Schema: &huma.Schema{Type: "string", Format: "binary"}}, "image/svg+xml": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}, s.qrCodeImage)
	huma.Register(api, huma.Operation{
		OperationID: "get-qr-session", Method: http.MethodGet, Path: "/api/v1/qr-sessions/{id}",
		Summary: "Retrieve a QR session", Tags: tags, Errors: errsRead,
		Description: "One scan of a static code: its status (waiting, down, failed, invoiced, canceled, timed_out), dynamic data and invoice. The session's one-time order key may read its own session.",
		Metadata:    map[string]any{scopesKey: []invoice.Scope{invoice.ScopeOrder}},
	}, s.getQRSession)
}

func (s *server) createLocation(ctx context.Context, in *createLocationInput) (*struct{ Body invoice.LocationObject }, error) {
	p := principal(ctx)
	l, err := s.invoices.CreateLocation(ctx, p.MerchantID, p.Mode, in.Body.Name)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.LocationObject }{l.Object()}, nil
}

func (s *server) listLocations(ctx context.Context, in *listPageInput) (*struct{ Body LocationList }, error) {
	p := principal(ctx)
	list, more, err := s.invoices.Locations(ctx, p.MerchantID, p.Mode, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := LocationList{Object: "list", Data: make([]invoice.LocationObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = list[i].Object()
	}
	return &struct{ Body LocationList }{out}, nil
}

func (s *server) getLocation(ctx context.Context, in *ObjectIDParam) (*struct{ Body invoice.LocationObject }, error) {
	p := principal(ctx)
	l, err := s.invoices.Location(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.LocationObject }{l.Object()}, nil
}

func (s *server) deactivateLocation(ctx context.Context, in *ObjectIDParam) (*struct{ Body invoice.LocationObject }, error) {
	p := principal(ctx)
	l, err := s.invoices.DeactivateLocation(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.LocationObject }{l.Object()}, nil
}

// qrObject is c's public form with its printable URL.
func (s *server) qrObject(c *invoice.QRCode) invoice.QRCodeObject {
	o := c.Object()
	if s.qrPages != nil {
		o.URL = s.qrPages.URL(c.MerchantID, c.Code)
	}
	return o
}

func (s *server) qrPolicy() events.AddressPolicy {
	if s.qrStarts != nil {
		return s.qrStarts.Policy()
	}
	return s.whPolicy()
}

func (s *server) createQRCode(ctx context.Context, in *createQRCodeInput) (*struct{ Body invoice.QRCodeObject }, error) {
	p := principal(ctx)
	b := in.Body
	if fe := s.qrPolicy().CheckURL(ctx, b.StartWebhookURL, p.Mode); fe != nil {
		fe.Field = "qr_start_webhook_url"
		return nil, s.fail(ctx, &invoice.ValidationError{Fields: []*invoice.FieldError{fe}})
	}
	secret := events.NewSecret()
	c, err := s.invoices.CreateQRCode(ctx, invoice.QRCodeParams{
		MerchantID: p.MerchantID, Mode: p.Mode, LocationID: b.LocationID, Code: b.QRCode, Description: b.Description,
		StartURL: b.StartWebhookURL, Secret: secret, AllowTip: b.AllowTip, AllowDynamicInvoice: b.AllowDynamicInvoice,
		OrderTimeoutSeconds: b.OrderTimeoutSeconds, PaymentTimeoutSeconds: b.PaymentTimeoutSeconds,
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	o := s.qrObject(&c)
	o.StartWebhookSecret = secret
	return &struct{ Body invoice.QRCodeObject }{o}, nil
}

func (s *server) listQRCodes(ctx context.Context, in *listPageInput) (*struct{ Body QRCodeList }, error) {
	p := principal(ctx)
	list, more, err := s.invoices.QRCodes(ctx, p.MerchantID, p.Mode, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := QRCodeList{Object: "list", Data: make([]invoice.QRCodeObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = s.qrObject(&list[i])
	}
	return &struct{ Body QRCodeList }{out}, nil
}

func (s *server) getQRCode(ctx context.Context, in *ObjectIDParam) (*struct{ Body invoice.QRCodeObject }, error) {
	p := principal(ctx)
	c, err := s.invoices.QRCode(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.QRCodeObject }{s.qrObject(&c)}, nil
}

func (s *server) deactivateQRCode(ctx context.Context, in *ObjectIDParam) (*struct{ Body invoice.QRCodeObject }, error) {
	p := principal(ctx)
	c, err := s.invoices.DeactivateQRCode(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.QRCodeObject }{s.qrObject(&c)}, nil
}

func (s *server) qrCodeImage(ctx context.Context, in *qrImageInput) (*qrOutput, error) {
	p := principal(ctx)
	c, err := s.invoices.QRCode(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	url := s.qrObject(&c).URL
	if in.Format == "svg" {
		b, err := payor.QRSVG(url)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &qrOutput{ContentType: "image/svg+xml", CacheControl: "private, max-age=300", Body: b}, nil
	}
	if in.Size == 0 {
		in.Size = 512
	}
	b, err := payor.QRPNG(url, in.Size)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &qrOutput{ContentType: "image/png", CacheControl: "private, max-age=300", Body: b}, nil
}

func (s *server) getQRSession(ctx context.Context, in *ObjectIDParam) (*struct{ Body invoice.QRSessionObject }, error) {
	p := principal(ctx)
	if p.Scope == invoice.ScopeOrder && in.ID != p.BoundTo {
		return nil, s.fail(ctx, invoice.ErrNotFound)
	}
	q, err := s.invoices.QRSession(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.QRSessionObject }{q.Object()}, nil
}
