package dashboard

import "io/fs"

// Static is the page's embedded files, for tests.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return sub
}
