// Package greeting words the service's answer.
package greeting

// For greets name, or the world when name is empty.
func For(name string) string {
	if name == "" {
		name = "world"
	}
	return "hello, " + name
}
