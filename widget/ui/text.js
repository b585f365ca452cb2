// Every sentence the widget itself says, in one file: English, French and Spanish.
//
// Translators: copy one language block, translate each value, add it to LANGUAGES. Keep
// the words the participant sees on the controls (quickExit, endChat, duress) the same
// wherever another text names them. Functions build texts that hold a number or a name;
// numbers go through `plural` (Intl.PluralRules), so "1 minute", "2 minutes".
// The program's own texts (name, notice, questions, check-in, alternatives, status)
// come from its signed profile and are never translated here.

/** Pick the form for `n` from {one, other} (and {few, many} where a language has them). */
export function plural(lang, n, forms) {
  const rule = new Intl.PluralRules(lang).select(n);
  return (forms[rule] ?? forms.other).replace("{n}", String(n));
}

const en = {
  lang: "en",
  quickExit: "Quick exit",
  quickExitHint: "To leave this page at once, use Quick exit or press Shift three times.",
  checking: "Checking that the chat is available",
  oneMoment: "One moment, please.",
  openNow: "The chat is open now.",
  busyNow: "All our support workers are busy right now. You can start the chat and wait: " +
    "we will answer as soon as someone is free.",
  hoursHeading: "Chat hours",
  timezone: (name) => `Times are in ${name}.`,
  open24EveryDay: "Open 24 hours, every day",
  open24: "open 24 hours",
  everyDay: "Every day",
  closedDay: "closed",
  closedOnDay: (day, label) => `Closed on ${day}${label ? ` (${label})` : ""}`,
  dayRange: (first, last) => `${first} to ${last}`,
  dayPair: (first, second) => `${first} and ${second}`,
  dayLine: (days, times) => `${days}: ${times}`,
  timeRange: (from, to) => `${from} to ${to}`,
  midnight: "midnight",
  midday: "midday",
  safetyBeforeStart:
    "If someone else may see this device, chat may not be safe. You can leave at any time " +
    "with Quick exit, and nothing from the chat is kept on this device.",
  privateWindow:
    "Your browser's History will still list this page. A private window (also called " +
    "incognito) keeps no History once you close it.",
  startChat: "Start a chat",
  // Unavailable reasons
  outsideHours: "The chat is closed right now",
  outsideHoursBody: "You can reach us during the chat hours below, or in the other ways listed.",
  closed: "The chat is closed right now",
  closedBody: "You can reach us in the other ways below.",
  outage: "The chat is not working right now",
  outageBody: "We are sorry. You can reach us in the other ways below.",
  unknownStatus: "We cannot confirm the chat is open right now",
  unknownBody: "You can try again in a little while, or reach us in the other ways below.",
  unreachable: "The chat cannot be reached right now",
  unreachableBody:
    "This may be a problem with the connection or with our chat service. " +
    "You can still reach us in the ways below.",
  setup: "The chat is not available on this page right now",
  setupBody: "You can reach us in the ways below.",
  otherWays: "Other ways to reach us",
  checkAgain: "Check again",
  // Rights notice
  rightsHeading: "Before you start: your rights and choices",
  rightsIntro: "Please read this. The message box opens when you say you have read it.",
  voluntary: "Your choice",
  choices: "What you share",
  information: "How we handle information",
  mandatoryReporting: "When we must report",
  moreAbout: "More about how we handle information",
  close: "Close",
  moreAddress: "We explain this in more detail on our website, at this address:",
  moreAddressToo: "There is more on our website, at this address:",
  moreAddressAdvice:
    "This chat does not open it, so that Quick exit can still hide everything. If it is " +
    "safe for you, you can copy the address and visit it later, for example in a private window.",
  acknowledge: "I have read this, continue",
  // Questions
  questionsHeading: "Some optional questions",
  questionsIntro:
    "You do not have to answer any of these to get help. Skip any or all of them. " +
    "Answers are sent only to the program, encrypted, and only once the chat starts.",
  whyAsked: "Why we ask: ",
  skipOne: "Skip this question",
  skipped: "Skipped",
  undoSkip: "Answer this question",
  skipAll: "Skip all questions and start the chat",
  sendAnswers: "Start the chat",
  // Chat
  connecting: "Connecting you securely",
  connectingSecurely: "connecting securely...",
  chatHeading: "Chat",
  conversation: "Conversation",
  waiting: "Waiting for a support worker. You can start writing now.",
  supportWorker: "Support worker",
  you: "You",
  missing:
    "A message may be missing here. If something seems left out, you can ask the support worker.",
  yourMessage: "Your message",
  send: "Send",
  notSent: "Your last message could not be sent. Please try again.",
  reconnecting:
    "Reconnecting... You can keep writing: your messages will be sent when the connection is back.",
  connectionLost:
    "The connection is still lost. Your conversation and your messages are kept on this page.",
  tryAgain: "Try again",
  waitingToSend: "Waiting to send",
  queueNext: "Waiting for a support worker. You are next.",
  queueAhead: { one: "Waiting for a support worker. There is {n} person ahead of you.",
    other: "Waiting for a support worker. There are {n} people ahead of you." },
  joined: (name) => `${name} has joined the chat.`,
  typing: (name) => `${name} is writing...`,
  delivered: "Delivered",
  notSentYet: "Not sent yet",
  codeWordLabel: "Your code word",
  codeWordSend: "Send code word",
  codeWordSent: "Code word sent.",
  inviteDeclined: (role) =>
    `The support worker asked to add someone${role ? ` (${role})` : ""} to this chat. ` +
    "This chat window cannot add anyone, so the conversation stays between you and the program.",
  endChat: "End chat",
  endConfirmQuestion: "End this chat now? The conversation will be erased from this page.",
  endConfirmYes: "Yes, end the chat",
  endConfirmNo: "No, keep chatting",
  duress: "Someone is here",
  duressHint: "Leaves at once and quietly tells the support worker you cannot talk.",
  // Ending
  endedHeading: "This chat has ended",
  endedBody: "Nothing from it is kept on this page.",
  endedBy: {
    participant: "You ended the chat.",
    staff: "The support worker ended the chat.",
    inactivity: "The chat ended because we had not heard from you for a while.",
    relay: "The chat was closed.",
  },
  closingFromProgram: "The program's last message",
  startNew: "Start a new chat",
  historyAdvice:
    "Your browser's History may still list this page. If someone could look, you can " +
    "delete it from History. Next time, a private window keeps no History.",
  // Verification failure
  warningHeading: "We stopped this chat to protect you",
  warningBody:
    "We could not confirm that this chat is really connected to the program. Someone may " +
    "be interfering with the connection. Nothing more was sent, and nothing we could not " +
    "confirm was shown.",
  warningAdvice: "If you can, reach us in another way, maybe from a different device.",
};

const fr = {
  lang: "fr",
  quickExit: "Sortie rapide",
  quickExitHint:
    "Pour quitter cette page tout de suite, utilisez Sortie rapide ou appuyez trois fois sur Maj.",
  checking: "Nous vérifions que la discussion est disponible",
  oneMoment: "Un instant, s'il vous plaît.",
  openNow: "La discussion est ouverte.",
  busyNow: "Toutes nos intervenantes et tous nos intervenants sont occupés. Vous pouvez " +
    "commencer la discussion et patienter : nous vous répondrons dès que possible.",
  hoursHeading: "Heures d'ouverture de la discussion",
  timezone: (name) => `Les heures sont indiquées en ${name}.`,
  open24EveryDay: "Ouvert 24 heures sur 24, tous les jours",
  open24: "ouvert 24 heures sur 24",
  everyDay: "Tous les jours",
  closedDay: "fermé",
  closedOnDay: (day, label) => `Fermé le ${day}${label ? ` (${label})` : ""}`,
  dayRange: (first, last) => `Du ${first} au ${last}`,
  dayPair: (first, second) => `${first} et ${second}`,
  dayLine: (days, times) => `${days} : ${times}`,
  timeRange: (from, to) => `de ${from} à ${to}`,
  midnight: "minuit",
  midday: "midi",
  safetyBeforeStart:
    "Si quelqu'un d'autre peut voir cet appareil, la discussion n'est peut-être pas sûre. " +
    "Vous pouvez partir à tout moment avec Sortie rapide, et rien de la discussion n'est " +
    "gardé sur cet appareil.",
  privateWindow:
    "L'historique de votre navigateur gardera quand même cette page. Une fenêtre de " +
    "navigation privée n'en garde aucune trace une fois fermée.",
  startChat: "Commencer la discussion",
  outsideHours: "La discussion est fermée pour le moment",
  outsideHoursBody:
    "Vous pouvez nous joindre pendant les heures d'ouverture ci-dessous, ou par les autres moyens indiqués.",
  closed: "La discussion est fermée pour le moment",
  closedBody: "Vous pouvez nous joindre par les autres moyens ci-dessous.",
  outage: "La discussion ne fonctionne pas pour le moment",
  outageBody: "Nous en sommes désolés. Vous pouvez nous joindre par les autres moyens ci-dessous.",
  unknownStatus: "Nous ne pouvons pas confirmer que la discussion est ouverte",
  unknownBody: "Réessayez un peu plus tard, ou joignez-nous par les autres moyens ci-dessous.",
  unreachable: "La discussion est inaccessible pour le moment",
  unreachableBody:
    "Le problème vient peut-être de la connexion ou de notre service. " +
    "Vous pouvez quand même nous joindre par les moyens ci-dessous.",
  setup: "La discussion n'est pas disponible sur cette page pour le moment",
  setupBody: "Vous pouvez nous joindre par les moyens ci-dessous.",
  otherWays: "Autres moyens de nous joindre",
  checkAgain: "Vérifier à nouveau",
  rightsHeading: "Avant de commencer : vos droits et vos choix",
  rightsIntro:
    "Merci de lire ce qui suit. La zone de message s'ouvre quand vous indiquez l'avoir lu.",
  voluntary: "Votre choix",
  choices: "Ce que vous partagez",
  information: "Ce que nous faisons des informations",
  mandatoryReporting: "Quand nous devons signaler",
  moreAbout: "En savoir plus sur ce que nous faisons des informations",
  close: "Fermer",
  moreAddress: "Nous l'expliquons plus en détail sur notre site, à cette adresse :",
  moreAddressToo: "Vous trouverez plus d'informations sur notre site, à cette adresse :",
  moreAddressAdvice:
    "Cette discussion ne l'ouvre pas, pour que Sortie rapide puisse tout cacher. Si vous " +
    "êtes en sécurité, vous pouvez copier l'adresse et la consulter plus tard, par exemple " +
    "dans une fenêtre de navigation privée.",
  acknowledge: "J'ai lu, continuer",
  questionsHeading: "Quelques questions facultatives",
  questionsIntro:
    "Vous n'avez à répondre à aucune de ces questions pour recevoir de l'aide. Passez-en " +
    "autant que vous voulez. Les réponses sont envoyées chiffrées, seulement à l'organisme, " +
    "et seulement une fois la discussion commencée.",
  whyAsked: "Pourquoi nous demandons : ",
  skipOne: "Passer cette question",
  skipped: "Passée",
  undoSkip: "Répondre à cette question",
  skipAll: "Passer toutes les questions et commencer",
  sendAnswers: "Commencer la discussion",
  connecting: "Connexion sécurisée en cours",
  connectingSecurely: "connexion sécurisée...",
  chatHeading: "Discussion",
  conversation: "Conversation",
  waiting: "En attente d'une intervenante ou d'un intervenant. Vous pouvez déjà écrire.",
  supportWorker: "Intervenant·e",
  you: "Vous",
  missing:
    "Un message manque peut-être ici. Si quelque chose semble oublié, vous pouvez le demander.",
  yourMessage: "Votre message",
  send: "Envoyer",
  notSent: "Votre dernier message n'a pas pu être envoyé. Veuillez réessayer.",
  reconnecting:
    "Reconnexion en cours... Vous pouvez continuer à écrire : vos messages partiront dès " +
    "que la connexion sera rétablie.",
  connectionLost:
    "La connexion est toujours coupée. La conversation et vos messages restent sur cette page.",
  tryAgain: "Réessayer",
  waitingToSend: "En attente d'envoi",
  queueNext: "En attente d'une intervenante ou d'un intervenant. Vous êtes la prochaine personne.",
  queueAhead: { one: "En attente d'une intervenante ou d'un intervenant. Il y a {n} personne avant vous.",
    other: "En attente d'une intervenante ou d'un intervenant. Il y a {n} personnes avant vous." },
  joined: (name) => `${name} a rejoint la discussion.`,
  typing: (name) => `${name} écrit...`,
  delivered: "Reçu",
  notSentYet: "Pas encore envoyé",
  codeWordLabel: "Votre mot de code",
  codeWordSend: "Envoyer le mot de code",
  codeWordSent: "Mot de code envoyé.",
  inviteDeclined: (role) =>
    `L'intervenant·e a demandé d'ajouter quelqu'un${role ? ` (${role})` : ""} à cette ` +
    "discussion. Cette fenêtre ne peut ajouter personne : la conversation reste entre vous " +
    "et l'organisme.",
  endChat: "Terminer la discussion",
  endConfirmQuestion: "Terminer la discussion maintenant ? Elle sera effacée de cette page.",
  endConfirmYes: "Oui, terminer",
  endConfirmNo: "Non, continuer",
  duress: "Quelqu'un est là",
  duressHint: "Quitte tout de suite et signale discrètement que vous ne pouvez pas parler.",
  endedHeading: "La discussion est terminée",
  endedBody: "Rien n'en est gardé sur cette page.",
  endedBy: {
    participant: "Vous avez terminé la discussion.",
    staff: "L'intervenant·e a terminé la discussion.",
    inactivity: "La discussion s'est terminée parce que nous n'avions plus de nouvelles de vous.",
    relay: "La discussion a été fermée.",
  },
  closingFromProgram: "Le dernier message de l'organisme",
  startNew: "Commencer une nouvelle discussion",
  historyAdvice:
    "L'historique de votre navigateur peut encore montrer cette page. Si quelqu'un risque " +
    "de regarder, vous pouvez l'effacer de l'historique. La prochaine fois, une fenêtre de " +
    "navigation privée ne garde pas d'historique.",
  warningHeading: "Nous avons arrêté la discussion pour vous protéger",
  warningBody:
    "Nous n'avons pas pu confirmer que cette discussion est vraiment reliée à l'organisme. " +
    "Quelqu'un perturbe peut-être la connexion. Rien de plus n'a été envoyé, et rien de " +
    "non confirmé n'a été affiché.",
  warningAdvice: "Si vous le pouvez, joignez-nous autrement, peut-être depuis un autre appareil.",
};

const es = {
  lang: "es",
  quickExit: "Salida rápida",
  quickExitHint:
    "Para salir de esta página enseguida, use Salida rápida o pulse Mayús tres veces.",
  checking: "Comprobando que el chat está disponible",
  oneMoment: "Un momento, por favor.",
  openNow: "El chat está abierto ahora.",
  busyNow: "Todo nuestro equipo está ocupado en este momento. Puede empezar el chat y " +
    "esperar: le responderemos en cuanto alguien quede libre.",
  hoursHeading: "Horario del chat",
  timezone: (name) => `Las horas están en ${name}.`,
  open24EveryDay: "Abierto las 24 horas, todos los días",
  open24: "abierto las 24 horas",
  everyDay: "Todos los días",
  closedDay: "cerrado",
  closedOnDay: (day, label) => `Cerrado el ${day}${label ? ` (${label})` : ""}`,
  dayRange: (first, last) => `De ${first} a ${last}`,
  dayPair: (first, second) => `${first} y ${second}`,
  dayLine: (days, times) => `${days}: ${times}`,
  timeRange: (from, to) => `de ${from} a ${to}`,
  midnight: "medianoche",
  midday: "mediodía",
  safetyBeforeStart:
    "Si otra persona puede ver este dispositivo, el chat quizá no sea seguro. Puede salir " +
    "en cualquier momento con Salida rápida, y nada del chat se guarda en este dispositivo.",
  privateWindow:
    "El historial de su navegador seguirá mostrando esta página. Una ventana privada " +
    "(o de incógnito) no guarda historial al cerrarla.",
  startChat: "Empezar un chat",
  outsideHours: "El chat está cerrado en este momento",
  outsideHoursBody:
    "Puede contactarnos en el horario del chat que aparece abajo, o de las otras formas indicadas.",
  closed: "El chat está cerrado en este momento",
  closedBody: "Puede contactarnos de las otras formas que aparecen abajo.",
  outage: "El chat no funciona en este momento",
  outageBody: "Lo sentimos. Puede contactarnos de las otras formas que aparecen abajo.",
  unknownStatus: "No podemos confirmar que el chat esté abierto ahora",
  unknownBody: "Inténtelo de nuevo en un rato, o contáctenos de las otras formas que aparecen abajo.",
  unreachable: "No se puede acceder al chat en este momento",
  unreachableBody:
    "Puede ser un problema de la conexión o de nuestro servicio. " +
    "Aun así puede contactarnos de las formas que aparecen abajo.",
  setup: "El chat no está disponible en esta página en este momento",
  setupBody: "Puede contactarnos de las formas que aparecen abajo.",
  otherWays: "Otras formas de contactarnos",
  checkAgain: "Comprobar de nuevo",
  rightsHeading: "Antes de empezar: sus derechos y opciones",
  rightsIntro: "Lea esto, por favor. El cuadro de mensaje se abre cuando indique que lo ha leído.",
  voluntary: "Su decisión",
  choices: "Lo que comparte",
  information: "Cómo tratamos la información",
  mandatoryReporting: "Cuándo debemos informar",
  moreAbout: "Más sobre cómo tratamos la información",
  close: "Cerrar",
  moreAddress: "Lo explicamos con más detalle en nuestro sitio web, en esta dirección:",
  moreAddressToo: "Hay más información en nuestro sitio web, en esta dirección:",
  moreAddressAdvice:
    "Este chat no la abre, para que Salida rápida pueda ocultarlo todo. Si es seguro para " +
    "usted, puede copiar la dirección y visitarla más tarde, por ejemplo en una ventana privada.",
  acknowledge: "Lo he leído, continuar",
  questionsHeading: "Algunas preguntas opcionales",
  questionsIntro:
    "No tiene que responder ninguna para recibir ayuda. Omita las que quiera, o todas. " +
    "Las respuestas se envían cifradas, solo a la organización, y solo cuando empieza el chat.",
  whyAsked: "Por qué preguntamos: ",
  skipOne: "Omitir esta pregunta",
  skipped: "Omitida",
  undoSkip: "Responder esta pregunta",
  skipAll: "Omitir todas las preguntas y empezar el chat",
  sendAnswers: "Empezar el chat",
  connecting: "Conectando de forma segura",
  connectingSecurely: "conectando de forma segura...",
  chatHeading: "Chat",
  conversation: "Conversación",
  waiting: "Esperando a una persona del equipo. Ya puede empezar a escribir.",
  supportWorker: "Equipo de apoyo",
  you: "Usted",
  missing:
    "Puede que falte un mensaje aquí. Si parece que falta algo, puede preguntarlo.",
  yourMessage: "Su mensaje",
  send: "Enviar",
  notSent: "Su último mensaje no se pudo enviar. Inténtelo de nuevo.",
  reconnecting:
    "Reconectando... Puede seguir escribiendo: sus mensajes se enviarán cuando vuelva la conexión.",
  connectionLost:
    "La conexión sigue perdida. La conversación y sus mensajes se mantienen en esta página.",
  tryAgain: "Intentar de nuevo",
  waitingToSend: "Pendiente de envío",
  queueNext: "Esperando a una persona del equipo. Usted es la siguiente persona.",
  queueAhead: { one: "Esperando a una persona del equipo. Hay {n} persona antes que usted.",
    other: "Esperando a una persona del equipo. Hay {n} personas antes que usted." },
  joined: (name) => `${name} se ha unido al chat.`,
  typing: (name) => `${name} está escribiendo...`,
  delivered: "Recibido",
  notSentYet: "Todavía no enviado",
  codeWordLabel: "Su palabra clave",
  codeWordSend: "Enviar palabra clave",
  codeWordSent: "Palabra clave enviada.",
  inviteDeclined: (role) =>
    `La persona que le atiende pidió añadir a alguien${role ? ` (${role})` : ""} a este chat. ` +
    "Esta ventana no puede añadir a nadie: la conversación queda entre usted y la organización.",
  endChat: "Terminar el chat",
  endConfirmQuestion: "¿Terminar el chat ahora? La conversación se borrará de esta página.",
  endConfirmYes: "Sí, terminar el chat",
  endConfirmNo: "No, seguir",
  duress: "Hay alguien aquí",
  duressHint: "Sale enseguida y avisa en silencio de que no puede hablar.",
  endedHeading: "El chat ha terminado",
  endedBody: "No queda nada de él en esta página.",
  endedBy: {
    participant: "Usted terminó el chat.",
    staff: "La persona que le atendía terminó el chat.",
    inactivity: "El chat terminó porque no supimos de usted durante un rato.",
    relay: "El chat se cerró.",
  },
  closingFromProgram: "El último mensaje de la organización",
  startNew: "Empezar un chat nuevo",
  historyAdvice:
    "El historial de su navegador puede seguir mostrando esta página. Si alguien podría " +
    "mirarlo, puede borrarla del historial. La próxima vez, una ventana privada no guarda " +
    "historial.",
  warningHeading: "Detuvimos este chat para protegerle",
  warningBody:
    "No pudimos confirmar que este chat esté realmente conectado con la organización. " +
    "Puede que alguien esté interfiriendo en la conexión. No se envió nada más, y no se " +
    "mostró nada que no pudiéramos confirmar.",
  warningAdvice: "Si puede, contáctenos de otra forma, quizá desde otro dispositivo.",
};

export const LANGUAGES = Object.freeze({ en, fr, es });

/** The shipped language a BCP 47 tag ("fr-CA", "ES") names, or null. */
export function shippedLanguage(tag) {
  if (typeof tag !== "string" || tag === "") return null;
  const base = tag.toLowerCase().split("-")[0];
  return Object.hasOwn(LANGUAGES, base) ? base : null;
}

/** The first of `candidates` (BCP 47 tags such as "fr-CA") this file has a language for. */
export function chooseLanguage(...candidates) {
  for (const tag of candidates) {
    const shipped = shippedLanguage(tag);
    if (shipped) return shipped;
  }
  return "en";
}

/** The texts in use: a live binding, changed by setLanguage() before the first screen. */
export let TEXT = en;

export function setLanguage(code) {
  TEXT = LANGUAGES[chooseLanguage(code)];
  return TEXT.lang;
}
