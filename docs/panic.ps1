# saferbot panic press for a Windows PC where nothing may be installed (docs/triggers.md).
# Signs the press with the device secret (Standard Webhooks: HMAC-SHA256 of "<id>.<timestamp>.<body>")
# and posts it, trying again with the same id until saferbot answers 202 (stored), for up to 5 minutes.
# Windows PowerShell 5.1 or later; nothing to install. Check it on your PC first:
#   powershell -NoProfile -ExecutionPolicy Bypass -File panic.ps1 -Vector
# must print exactly: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
param(
    [string]$Url = "https://saferbot.example.org/trigger/central-front-counter",
    [string]$SecretFile = "$env:USERPROFILE\saferbot-panic.secret",
    [switch]$Vector
)

function Get-Signature([string]$Secret, [string]$Id, [string]$Timestamp, [string]$Body) {
    $key = [Convert]::FromBase64String($Secret.Replace("whsec_", ""))
    $hmac = [System.Security.Cryptography.HMACSHA256]::new($key)
    $bytes = [Text.Encoding]::UTF8.GetBytes("$Id.$Timestamp.$Body")
    return "v1," + [Convert]::ToBase64String($hmac.ComputeHash($bytes))
}

if ($Vector) {  # the Standard Webhooks test vector (tests/test_trigger_docs.py checks the same one)
    Get-Signature "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" "msg_p5jXN8AQM9LWM0D4loKWxJek" "1614265330" '{"test": 2432232314}'
    exit 0
}

[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
$secret = (Get-Content -Raw $SecretFile).Trim()
$id = "msg_" + [guid]::NewGuid().ToString("N")
$body = "{}"
for ($try = 1; $try -le 150; $try++) {
    $ts = [string][DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
    $headers = @{ "webhook-id" = $id; "webhook-timestamp" = $ts; "webhook-signature" = (Get-Signature $secret $id $ts $body) }
    try {
        $r = Invoke-WebRequest -Uri $Url -Method Post -Body $body -ContentType "application/json" -Headers $headers -UseBasicParsing -TimeoutSec 10
        if ($r.StatusCode -eq 202) { exit 0 }
    } catch {
        if ($_.Exception.Response -and [int]$_.Exception.Response.StatusCode -eq 401) {
            Add-Type -AssemblyName System.Windows.Forms
            [System.Windows.Forms.MessageBox]::Show("saferbot refused this panic button (check the secret). PHONE FOR HELP.") | Out-Null
            exit 1
        }
    }
    Start-Sleep -Seconds 2
}
exit 1
