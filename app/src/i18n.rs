//! The hosted pages' words in English, German, Spanish, French, Hindi and Arabic.
//!
//! A page picks its language from `?lang=`, then the verification's locale, then the
//! app's default, then the browser's `Accept-Language`, then English. `{}` in a text is
//! filled by [`fill`].

use serde::{Deserialize, Serialize};

/// The region of the first language tag in an `Accept-Language` header that names one
/// (`de-AT,de;q=0.9` → `AT`), for the phone number picker.
pub fn region_of(accept_language: &str) -> Option<String> {
    accept_language.split(',').find_map(|part| {
        let tag = part.split(';').next()?.trim();
        let region = tag.split(['-', '_']).nth(1)?;
        (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| region.to_ascii_uppercase())
    })
}

/// A language of the hosted pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    De,
    Es,
    Fr,
    Hi,
    Ar,
}

impl Lang {
    pub const ALL: [Lang; 6] = [Lang::En, Lang::De, Lang::Es, Lang::Fr, Lang::Hi, Lang::Ar];

    /// The BCP 47 tag, for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::Hi => "hi",
            Lang::Ar => "ar",
        }
    }

    /// `rtl` for Arabic, `ltr` otherwise.
    pub fn dir(self) -> &'static str {
        if self == Lang::Ar {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// A tag such as `de`, `de-AT` or `pt-BR`, by its language; `None` when not offered.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let language = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.tag() == language)
    }

    /// The first offered language of an `Accept-Language` header, by its q-values.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut ranked: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let lang = Lang::from_tag(pieces.next()?)?;
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|(_, l)| *l)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Es => &ES,
            Lang::Fr => &FR,
            Lang::Hi => &HI,
            Lang::Ar => &AR,
        }
    }
}

/// Replaces each `{}` in order with `values`.
pub fn fill(text: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    for value in values {
        match rest.split_once("{}") {
            Some((before, after)) => {
                out.push_str(before);
                out.push_str(value);
                rest = after;
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Every text of the hosted pages.
#[derive(Debug)]
pub struct Texts {
    pub loading: &'static str,
    pub page_title: &'static str,
    pub check_phone: &'static str,
    pub check_email: &'static str,
    pub enter_code: &'static str,
    pub verify_it_is_you: &'static str,
    pub mobile_number: &'static str,
    pub phone_hint: &'static str,
    pub country: &'static str,
    /// The picker's first choice: the number is written with its country code.
    pub country_in_number: &'static str,
    pub email_address: &'static str,
    pub email_hint: &'static str,
    pub address: &'static str,
    pub address_hint: &'static str,
    pub send_code: &'static str,
    pub enter_received: &'static str,
    pub sent_to: &'static str,
    pub code_label: &'static str,
    pub verify: &'static str,
    pub delivery_sent: &'static str,
    pub delivery_delivered: &'static str,
    pub delivery_failed: &'static str,
    pub expires_in: &'static str,
    pub send_new: &'static str,
    pub send_new_in: &'static str,
    pub qr_title: &'static str,
    pub qr_help: &'static str,
    pub qr_alt: &'static str,
    pub send_label: &'static str,
    pub to_label: &'static str,
    pub open_messages: &'static str,
    pub waiting: &'static str,
    pub verified_title: &'static str,
    pub verified_body: &'static str,
    pub expired_title: &'static str,
    pub locked_title: &'static str,
    pub cancelled_title: &'static str,
    pub closed_body: &'static str,
    pub one_attempt_left: &'static str,
    pub attempts_left: &'static str,
    pub incorrect: &'static str,
    pub malformed: &'static str,
    pub unavailable: &'static str,
    pub too_many: &'static str,
    pub resent: &'static str,
    pub sent: &'static str,
    pub invalid_address: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_body: &'static str,
    pub confirm_title: &'static str,
    pub confirm_body: &'static str,
    pub confirm: &'static str,
    /// "Didn't get it?" and its offers, one per kind of fallback.
    pub didnt_get_it: &'static str,
    pub via_email: &'static str,
    pub via_sms: &'static str,
    pub via_whatsapp: &'static str,
    pub via_voice: &'static str,
    pub via_qr: &'static str,
    pub via_other: &'static str,
}

pub static EN: Texts = Texts {
    loading: "Loading…",
    page_title: "Verify · {}",
    check_phone: "Check your phone",
    check_email: "Check your e-mail",
    enter_code: "Enter your verification code",
    verify_it_is_you: "Verify it is you",
    mobile_number: "Mobile number",
    phone_hint: "Pick your country, or write the number with its country code, e.g. +14155550100.",
    country: "Country",
    country_in_number: "Country code in the number (+…)",
    email_address: "E-mail address",
    email_hint: "We will send a code to it.",
    address: "Address",
    address_hint: "Where the code should go.",
    send_code: "Send code",
    enter_received: "Enter the code you received.",
    sent_to: "We sent a code to {}.",
    code_label: "Verification code",
    verify: "Verify",
    delivery_sent: "The message is on its way.",
    delivery_delivered: "The message was delivered.",
    delivery_failed: "The message could not be delivered yet; we keep trying.",
    expires_in: "The code expires in {}.",
    send_new: "Send a new code",
    send_new_in: "Send a new code in {}",
    qr_title: "Text this code from your phone",
    qr_help: "Scan the QR code with your phone's camera, then send the message it opens.",
    qr_alt: "QR code that opens a text message with the code",
    send_label: "Send",
    to_label: "To",
    open_messages: "Open my messages app",
    waiting: "Waiting for your message. This code expires in {}.",
    verified_title: "Verified",
    verified_body: "Thank you. You can close this page.",
    expired_title: "This code has expired",
    locked_title: "Too many attempts",
    cancelled_title: "This verification was cancelled",
    closed_body: "Ask for a new code where you started.",
    one_attempt_left: "1 attempt left",
    attempts_left: "{} attempts left",
    incorrect: "That code is not right. {}.",
    malformed: "Type the code exactly as you received it.",
    unavailable: "Something went wrong. Try again in a moment.",
    too_many: "Too many tries. Wait a few minutes, then try again.",
    resent: "A new message is on its way. {}.",
    sent: "The code is on its way. {}.",
    invalid_address: "That address does not look right.",
    unavailable_title: "Temporarily unavailable",
    unavailable_body: "Try again in a moment.",
    confirm_title: "Confirm it is you",
    confirm_body: "Press the button to finish verifying {}.",
    confirm: "Confirm",
    didnt_get_it: "Didn't get it?",
    via_email: "Get a code by e-mail instead",
    via_sms: "Get a code by SMS instead",
    via_whatsapp: "Get a code on WhatsApp instead",
    via_voice: "Get a call with the code instead",
    via_qr: "Text us a code instead",
    via_other: "Get a code another way",
};

pub static DE: Texts = Texts {
    loading: "Wird geladen…",
    page_title: "Bestätigen · {}",
    check_phone: "Sehen Sie auf Ihr Telefon",
    check_email: "Sehen Sie in Ihre E-Mails",
    enter_code: "Geben Sie Ihren Bestätigungscode ein",
    verify_it_is_you: "Bestätigen Sie, dass Sie es sind",
    mobile_number: "Handynummer",
    phone_hint: "Wählen Sie Ihr Land oder schreiben Sie die Nummer mit Ländervorwahl, z. B. +4915112345678.",
    country: "Land",
    country_in_number: "Ländervorwahl in der Nummer (+…)",
    email_address: "E-Mail-Adresse",
    email_hint: "Wir senden einen Code an diese Adresse.",
    address: "Adresse",
    address_hint: "Wohin der Code gehen soll.",
    send_code: "Code senden",
    enter_received: "Geben Sie den erhaltenen Code ein.",
    sent_to: "Wir haben einen Code an {} gesendet.",
    code_label: "Bestätigungscode",
    verify: "Bestätigen",
    delivery_sent: "Die Nachricht ist unterwegs.",
    delivery_delivered: "Die Nachricht wurde zugestellt.",
    delivery_failed: "Die Nachricht konnte noch nicht zugestellt werden; wir versuchen es weiter.",
    expires_in: "Der Code läuft in {} ab.",
    send_new: "Neuen Code senden",
    send_new_in: "Neuen Code senden in {}",
    qr_title: "Senden Sie diesen Code per SMS",
    qr_help: "Scannen Sie den QR-Code mit der Kamera Ihres Telefons und senden Sie die Nachricht, die sich öffnet.",
    qr_alt: "QR-Code, der eine SMS mit dem Code öffnet",
    send_label: "Senden",
    to_label: "An",
    open_messages: "Nachrichten-App öffnen",
    waiting: "Wir warten auf Ihre Nachricht. Der Code läuft in {} ab.",
    verified_title: "Bestätigt",
    verified_body: "Vielen Dank. Sie können diese Seite schließen.",
    expired_title: "Dieser Code ist abgelaufen",
    locked_title: "Zu viele Versuche",
    cancelled_title: "Diese Bestätigung wurde abgebrochen",
    closed_body: "Fordern Sie dort, wo Sie begonnen haben, einen neuen Code an.",
    one_attempt_left: "noch 1 Versuch",
    attempts_left: "noch {} Versuche",
    incorrect: "Dieser Code stimmt nicht. {}.",
    malformed: "Geben Sie den Code genau so ein, wie Sie ihn erhalten haben.",
    unavailable: "Etwas ist schiefgelaufen. Versuchen Sie es gleich noch einmal.",
    too_many: "Zu viele Versuche. Warten Sie einige Minuten und versuchen Sie es dann erneut.",
    resent: "Eine neue Nachricht ist unterwegs. {}.",
    sent: "Der Code ist unterwegs. {}.",
    invalid_address: "Diese Adresse scheint nicht zu stimmen.",
    unavailable_title: "Vorübergehend nicht verfügbar",
    unavailable_body: "Versuchen Sie es gleich noch einmal.",
    confirm_title: "Bestätigen Sie, dass Sie es sind",
    confirm_body: "Drücken Sie die Schaltfläche, um {} zu bestätigen.",
    confirm: "Bestätigen",
    didnt_get_it: "Nichts angekommen?",
    via_email: "Code stattdessen per E-Mail erhalten",
    via_sms: "Code stattdessen per SMS erhalten",
    via_whatsapp: "Code stattdessen über WhatsApp erhalten",
    via_voice: "Stattdessen einen Anruf mit dem Code erhalten",
    via_qr: "Stattdessen uns einen Code per SMS senden",
    via_other: "Code auf anderem Weg erhalten",
};

pub static ES: Texts = Texts {
    loading: "Cargando…",
    page_title: "Verificar · {}",
    check_phone: "Revisa tu teléfono",
    check_email: "Revisa tu correo",
    enter_code: "Introduce tu código de verificación",
    verify_it_is_you: "Confirma que eres tú",
    mobile_number: "Número de móvil",
    phone_hint: "Elija su país o escriba el número con el prefijo del país, p. ej. +34612345678.",
    country: "País",
    country_in_number: "Prefijo del país en el número (+…)",
    email_address: "Correo electrónico",
    email_hint: "Te enviaremos un código.",
    address: "Dirección",
    address_hint: "Adónde enviar el código.",
    send_code: "Enviar código",
    enter_received: "Introduce el código que recibiste.",
    sent_to: "Enviamos un código a {}.",
    code_label: "Código de verificación",
    verify: "Verificar",
    delivery_sent: "El mensaje está en camino.",
    delivery_delivered: "El mensaje se entregó.",
    delivery_failed: "Aún no se pudo entregar el mensaje; seguimos intentándolo.",
    expires_in: "El código caduca en {}.",
    send_new: "Enviar un código nuevo",
    send_new_in: "Enviar un código nuevo en {}",
    qr_title: "Envía este código por SMS desde tu teléfono",
    qr_help: "Escanea el código QR con la cámara del teléfono y envía el mensaje que se abre.",
    qr_alt: "Código QR que abre un SMS con el código",
    send_label: "Envía",
    to_label: "A",
    open_messages: "Abrir mi app de mensajes",
    waiting: "Esperando tu mensaje. El código caduca en {}.",
    verified_title: "Verificado",
    verified_body: "Gracias. Ya puedes cerrar esta página.",
    expired_title: "Este código ha caducado",
    locked_title: "Demasiados intentos",
    cancelled_title: "Esta verificación se canceló",
    closed_body: "Pide un código nuevo donde empezaste.",
    one_attempt_left: "queda 1 intento",
    attempts_left: "quedan {} intentos",
    incorrect: "Ese código no es correcto: {}.",
    malformed: "Escribe el código exactamente como lo recibiste.",
    unavailable: "Algo salió mal. Inténtalo de nuevo en un momento.",
    too_many: "Demasiados intentos. Espera unos minutos y vuelve a intentarlo.",
    resent: "Un mensaje nuevo está en camino: {}.",
    sent: "El código está en camino: {}.",
    invalid_address: "Esa dirección no parece correcta.",
    unavailable_title: "No disponible por el momento",
    unavailable_body: "Inténtalo de nuevo en un momento.",
    confirm_title: "Confirma que eres tú",
    confirm_body: "Pulsa el botón para terminar de verificar {}.",
    confirm: "Confirmar",
    didnt_get_it: "¿No lo recibiste?",
    via_email: "Recibir el código por correo electrónico",
    via_sms: "Recibir el código por SMS",
    via_whatsapp: "Recibir el código por WhatsApp",
    via_voice: "Recibir una llamada con el código",
    via_qr: "Envíanos un código por SMS",
    via_other: "Recibir el código de otra forma",
};

pub static FR: Texts = Texts {
    loading: "Chargement…",
    page_title: "Vérifier · {}",
    check_phone: "Consultez votre téléphone",
    check_email: "Consultez vos e-mails",
    enter_code: "Saisissez votre code de vérification",
    verify_it_is_you: "Confirmez que c'est bien vous",
    mobile_number: "Numéro de mobile",
    phone_hint: "Choisissez votre pays, ou écrivez le numéro avec l'indicatif du pays, p. ex. +33612345678.",
    country: "Pays",
    country_in_number: "Indicatif du pays dans le numéro (+…)",
    email_address: "Adresse e-mail",
    email_hint: "Nous y enverrons un code.",
    address: "Adresse",
    address_hint: "Où envoyer le code.",
    send_code: "Envoyer le code",
    enter_received: "Saisissez le code reçu.",
    sent_to: "Nous avons envoyé un code à {}.",
    code_label: "Code de vérification",
    verify: "Vérifier",
    delivery_sent: "Le message est en route.",
    delivery_delivered: "Le message a été remis.",
    delivery_failed: "Le message n'a pas encore pu être remis ; nous réessayons.",
    expires_in: "Le code expire dans {}.",
    send_new: "Envoyer un nouveau code",
    send_new_in: "Envoyer un nouveau code dans {}",
    qr_title: "Envoyez ce code par SMS depuis votre téléphone",
    qr_help: "Scannez le code QR avec l'appareil photo du téléphone, puis envoyez le message qui s'ouvre.",
    qr_alt: "Code QR qui ouvre un SMS contenant le code",
    send_label: "Envoyez",
    to_label: "Au",
    open_messages: "Ouvrir mon application de messages",
    waiting: "En attente de votre message. Le code expire dans {}.",
    verified_title: "Vérifié",
    verified_body: "Merci. Vous pouvez fermer cette page.",
    expired_title: "Ce code a expiré",
    locked_title: "Trop de tentatives",
    cancelled_title: "Cette vérification a été annulée",
    closed_body: "Demandez un nouveau code là où vous avez commencé.",
    one_attempt_left: "encore 1 tentative",
    attempts_left: "encore {} tentatives",
    incorrect: "Ce code n'est pas le bon : {}.",
    malformed: "Saisissez le code exactement tel que vous l'avez reçu.",
    unavailable: "Un problème est survenu. Réessayez dans un instant.",
    too_many: "Trop d'essais. Patientez quelques minutes, puis réessayez.",
    resent: "Un nouveau message est en route : {}.",
    sent: "Le code est en route : {}.",
    invalid_address: "Cette adresse ne semble pas correcte.",
    unavailable_title: "Momentanément indisponible",
    unavailable_body: "Réessayez dans un instant.",
    confirm_title: "Confirmez que c'est bien vous",
    confirm_body: "Appuyez sur le bouton pour terminer la vérification de {}.",
    confirm: "Confirmer",
    didnt_get_it: "Vous ne l'avez pas reçu ?",
    via_email: "Recevoir le code par e-mail",
    via_sms: "Recevoir le code par SMS",
    via_whatsapp: "Recevoir le code sur WhatsApp",
    via_voice: "Recevoir un appel avec le code",
    via_qr: "Nous envoyer un code par SMS",
    via_other: "Recevoir le code autrement",
};

pub static HI: Texts = Texts {
    loading: "लोड हो रहा है…",
    page_title: "सत्यापन · {}",
    check_phone: "अपना फ़ोन देखें",
    check_email: "अपना ई-मेल देखें",
    enter_code: "अपना सत्यापन कोड दर्ज करें",
    verify_it_is_you: "पुष्टि करें कि यह आप हैं",
    mobile_number: "मोबाइल नंबर",
    phone_hint: "अपना देश चुनें, या नंबर देश के कोड के साथ लिखें, जैसे +919876543210।",
    country: "देश",
    country_in_number: "नंबर में देश का कोड (+…)",
    email_address: "ई-मेल पता",
    email_hint: "हम इस पर एक कोड भेजेंगे।",
    address: "पता",
    address_hint: "कोड कहाँ भेजा जाए।",
    send_code: "कोड भेजें",
    enter_received: "आपको मिला कोड दर्ज करें।",
    sent_to: "हमने {} पर एक कोड भेजा है।",
    code_label: "सत्यापन कोड",
    verify: "सत्यापित करें",
    delivery_sent: "संदेश भेजा जा रहा है।",
    delivery_delivered: "संदेश पहुँच गया।",
    delivery_failed: "संदेश अभी तक नहीं पहुँचा; हम कोशिश कर रहे हैं।",
    expires_in: "कोड {} में समाप्त हो जाएगा।",
    send_new: "नया कोड भेजें",
    send_new_in: "{} में नया कोड भेजें",
    qr_title: "यह कोड अपने फ़ोन से SMS करें",
    qr_help: "अपने फ़ोन के कैमरे से QR कोड स्कैन करें, फिर खुलने वाला संदेश भेजें।",
    qr_alt: "QR कोड जो कोड के साथ एक SMS खोलता है",
    send_label: "भेजें",
    to_label: "इस नंबर पर",
    open_messages: "मेरा संदेश ऐप खोलें",
    waiting: "आपके संदेश की प्रतीक्षा है। कोड {} में समाप्त हो जाएगा।",
    verified_title: "सत्यापित",
    verified_body: "धन्यवाद। आप यह पेज बंद कर सकते हैं।",
    expired_title: "यह कोड समाप्त हो गया है",
    locked_title: "बहुत अधिक प्रयास",
    cancelled_title: "यह सत्यापन रद्द कर दिया गया",
    closed_body: "जहाँ से शुरू किया था, वहाँ नया कोड माँगें।",
    one_attempt_left: "1 प्रयास बाकी",
    attempts_left: "{} प्रयास बाकी",
    incorrect: "यह कोड सही नहीं है। {}।",
    malformed: "कोड ठीक वैसे ही लिखें जैसा आपको मिला।",
    unavailable: "कुछ गलत हो गया। थोड़ी देर में फिर कोशिश करें।",
    too_many: "बहुत अधिक प्रयास। कुछ मिनट रुककर फिर कोशिश करें।",
    resent: "नया संदेश भेजा जा रहा है। {}।",
    sent: "कोड भेजा जा रहा है। {}।",
    invalid_address: "यह पता सही नहीं लगता।",
    unavailable_title: "अभी उपलब्ध नहीं",
    unavailable_body: "थोड़ी देर में फिर कोशिश करें।",
    confirm_title: "पुष्टि करें कि यह आप हैं",
    confirm_body: "{} का सत्यापन पूरा करने के लिए बटन दबाएँ।",
    confirm: "पुष्टि करें",
    didnt_get_it: "कोड नहीं मिला?",
    via_email: "इसके बजाय ई-मेल से कोड पाएँ",
    via_sms: "इसके बजाय SMS से कोड पाएँ",
    via_whatsapp: "इसके बजाय WhatsApp पर कोड पाएँ",
    via_voice: "इसके बजाय कोड के साथ कॉल पाएँ",
    via_qr: "इसके बजाय हमें SMS से कोड भेजें",
    via_other: "किसी और तरीके से कोड पाएँ",
};

pub static AR: Texts = Texts {
    loading: "جارٍ التحميل…",
    page_title: "التحقق · {}",
    check_phone: "تحقّق من هاتفك",
    check_email: "تحقّق من بريدك الإلكتروني",
    enter_code: "أدخل رمز التحقق",
    verify_it_is_you: "تأكيد هويتك",
    mobile_number: "رقم الجوال",
    phone_hint: "اختر بلدك، أو اكتب الرقم مع رمز الدولة، مثل ‎+971501234567.",
    country: "الدولة",
    country_in_number: "رمز الدولة ضمن الرقم (+…)",
    email_address: "البريد الإلكتروني",
    email_hint: "سنرسل رمزًا إلى هذا العنوان.",
    address: "العنوان",
    address_hint: "أين يُرسل الرمز.",
    send_code: "إرسال الرمز",
    enter_received: "أدخل الرمز الذي وصلك.",
    sent_to: "أرسلنا رمزًا إلى {}.",
    code_label: "رمز التحقق",
    verify: "تحقّق",
    delivery_sent: "الرسالة في الطريق.",
    delivery_delivered: "تم تسليم الرسالة.",
    delivery_failed: "تعذّر تسليم الرسالة حتى الآن؛ ما زلنا نحاول.",
    expires_in: "تنتهي صلاحية الرمز خلال {}.",
    send_new: "إرسال رمز جديد",
    send_new_in: "إرسال رمز جديد بعد {}",
    qr_title: "أرسل هذا الرمز برسالة نصية من هاتفك",
    qr_help: "امسح رمز QR بكاميرا هاتفك، ثم أرسل الرسالة التي تُفتح.",
    qr_alt: "رمز QR يفتح رسالة نصية تحتوي على الرمز",
    send_label: "أرسل",
    to_label: "إلى",
    open_messages: "فتح تطبيق الرسائل",
    waiting: "بانتظار رسالتك. تنتهي صلاحية الرمز خلال {}.",
    verified_title: "تم التحقق",
    verified_body: "شكرًا لك. يمكنك إغلاق هذه الصفحة.",
    expired_title: "انتهت صلاحية هذا الرمز",
    locked_title: "محاولات كثيرة جدًا",
    cancelled_title: "أُلغي هذا التحقق",
    closed_body: "اطلب رمزًا جديدًا من حيث بدأت.",
    one_attempt_left: "تبقّت محاولة واحدة",
    attempts_left: "تبقّت {} محاولات",
    incorrect: "هذا الرمز غير صحيح. {}.",
    malformed: "اكتب الرمز كما وصلك تمامًا.",
    unavailable: "حدث خطأ ما. حاول مرة أخرى بعد قليل.",
    too_many: "محاولات كثيرة جدًا. انتظر بضع دقائق ثم حاول مرة أخرى.",
    resent: "رسالة جديدة في الطريق. {}.",
    sent: "الرمز في الطريق. {}.",
    invalid_address: "يبدو أن هذا العنوان غير صحيح.",
    unavailable_title: "غير متاح مؤقتًا",
    unavailable_body: "حاول مرة أخرى بعد قليل.",
    confirm_title: "تأكيد هويتك",
    confirm_body: "اضغط الزر لإكمال التحقق من {}.",
    confirm: "تأكيد",
    didnt_get_it: "لم يصلك الرمز؟",
    via_email: "احصل على الرمز عبر البريد الإلكتروني بدلاً من ذلك",
    via_sms: "احصل على الرمز عبر رسالة SMS بدلاً من ذلك",
    via_whatsapp: "احصل على الرمز عبر واتساب بدلاً من ذلك",
    via_voice: "تلقَّ مكالمة بالرمز بدلاً من ذلك",
    via_qr: "أرسل إلينا رمزًا عبر رسالة SMS بدلاً من ذلك",
    via_other: "احصل على الرمز بطريقة أخرى",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_come_from_tags_and_accept_language() {
        assert_eq!(Lang::from_tag("de-AT"), Some(Lang::De));
        assert_eq!(Lang::from_tag("AR"), Some(Lang::Ar));
        assert_eq!(Lang::from_tag("pt-BR"), None);
        assert_eq!(
            Lang::from_accept_language("pt-BR,pt;q=0.9,fr;q=0.8,en;q=0.7"),
            Some(Lang::Fr)
        );
        assert_eq!(Lang::from_accept_language("en;q=0.5, hi"), Some(Lang::Hi));
        assert_eq!(Lang::from_accept_language("de;q=0"), None);
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::Hi.dir(), "ltr");
    }

    #[test]
    fn the_phone_picker_takes_the_first_region_the_browser_names() {
        assert_eq!(region_of("de-AT,de;q=0.9"), Some("AT".into()));
        assert_eq!(region_of("fr, en_gb;q=0.5"), Some("GB".into()));
        assert_eq!(region_of("en, fr"), None);
        assert_eq!(region_of("zh-Hant-TW"), None);
        assert_eq!(region_of(""), None);
    }

    #[test]
    fn placeholders_are_filled_in_order() {
        assert_eq!(
            fill(EN.sent_to, &["jo**@example.com"]),
            "We sent a code to jo**@example.com."
        );
        assert_eq!(fill("{} and {}", &["a"]), "a and {}");
        for lang in Lang::ALL {
            let t = lang.texts();
            for text in [
                t.sent_to,
                t.expires_in,
                t.send_new_in,
                t.waiting,
                t.attempts_left,
                t.incorrect,
                t.resent,
                t.sent,
                t.page_title,
            ] {
                assert_eq!(text.matches("{}").count(), 1, "{lang:?}: {text}");
            }
        }
    }
}
