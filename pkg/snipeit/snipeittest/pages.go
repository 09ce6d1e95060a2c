package snipeittest

import (
	"fmt"
	"html"
	"net/http"
)

// loginPage is the HTML a browser (or a client that followed the 302) gets
// from /login.
func loginPage(appURL string) string {
	return `<!DOCTYPE html>
<html lang="en-US">
<head>
    <meta charset="utf-8">
    <title>Login :: Snipe-IT</title>
    <meta name="csrf-token" content="simulated0csrf0token0000000000000000000">
    <link rel="stylesheet" href="` + html.EscapeString(appURL) + `/css/dist/all.css">
</head>
<body class="hold-transition login-page">
    <form role="form" action="` + html.EscapeString(appURL) + `/login" method="POST" autocomplete="off">
        <input type="hidden" name="_token" value="simulated0csrf0token0000000000000000000">
        <h1>Please Login</h1>
        <input class="form-control" placeholder="Username" name="username" type="text" autofocus>
        <input class="form-control" placeholder="Password" name="password" type="password">
        <button class="btn btn-lg btn-primary btn-block">Login</button>
    </form>
</body>
</html>
`
}

// redirectPage is the body Symfony's RedirectResponse sends with a 302.
func redirectPage(target string) string {
	t := html.EscapeString(target)
	return `<!DOCTYPE html>
<html>
    <head>
        <meta charset="UTF-8" />
        <meta http-equiv="refresh" content="0;url='` + t + `'" />

        <title>Redirecting to ` + t + `</title>
    </head>
    <body>
        Redirecting to <a href="` + t + `">` + t + `</a>.
    </body>
</html>`
}

// errorPage is Laravel's HTML error page, what a client that does not ask
// for JSON gets on a 404 or 405.
func errorPage(status int) string {
	return fmt.Sprintf(`<!DOCTYPE html>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>%[2]s</title>
    </head>
    <body class="antialiased">
        <div class="px-4 text-lg text-gray-500 border-r border-gray-400 tracking-wider">%[1]d</div>
        <div class="ml-4 text-lg text-gray-500 uppercase tracking-wider">%[2]s</div>
    </body>
</html>
`, status, http.StatusText(status))
}

// proxyErrorPage is the page nginx sends when PHP behind it fails.
func proxyErrorPage(status int) string {
	return fmt.Sprintf(`<html>
<head><title>%[1]d %[2]s</title></head>
<body>
<center><h1>%[1]d %[2]s</h1></center>
<hr><center>nginx/1.24.0</center>
</body>
</html>
`, status, http.StatusText(status))
}
