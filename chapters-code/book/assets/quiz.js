// Quizzes: turns the plain HTML written by the driver's quiz preprocessor (chapters-code/book/src/quiz.rs)
// into checked questions. Without JavaScript, and in print.html, the quiz stays readable as it is:
// numbered questions, lettered choices, and each answer collapsed in a <details>.
//
// Each question is an <li class="quiz-question"> with data-kind="choice" (data-answer: index of the
// right choice) or data-kind="number" (data-answer, data-rel-tol, data-abs-tol). Vanilla JS, no network.
(function () {
  "use strict";

  // A typed number: 0.25, -3, 1.5e-4, 1.5E-4, 1.5×10^-4, 1.5 x 10^(-4), 1/4, with a Unicode minus
  // or a decimal comma. NaN when it is none of these.
  function parseNumber(text) {
    var s = String(text).trim().replace(/\u2212/g, "-").replace(/\s+/g, "");
    if (/^[+-]?\d+,\d+$/.test(s)) {
      s = s.replace(",", ".");
    }
    s = s.replace(/^(.+?)[x×*·]10\^?\(?([+-]?\d+)\)?$/i, "$1e$2");
    var num = "[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:e[+-]?\\d+)?";
    var fraction = new RegExp("^(" + num + ")/(" + num + ")$", "i").exec(s);
    if (fraction) {
      return Number(fraction[1]) / Number(fraction[2]);
    }
    return new RegExp("^" + num + "$", "i").test(s) ? Number(s) : NaN;
  }

  // The same rule as the driver's Answer::accepts: within max(abs, rel·|want|).
  function accepts(got, want, rel, abs) {
    return isFinite(got) && Math.abs(got - want) <= Math.max(abs || 0, (rel || 0) * Math.abs(want));
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function enhanceQuestion(question, onAnswer) {
    var answer = question.querySelector(":scope > details.quiz-answer");
    if (!answer) {
      return;
    }
    // The explanation is revealed once the question is answered (in print it stays collapsed, see
    // teaching.css).
    answer.hidden = true;
    var controls = element("div", "quiz-controls");
    var feedback = element("span", "quiz-feedback");
    feedback.setAttribute("aria-live", "polite");
    var read;
    if (question.dataset.kind === "choice") {
      var choices = question.querySelectorAll(":scope > .quiz-choices > .quiz-choice");
      choices.forEach(function (choice, i) {
        var label = element("label");
        var radio = element("input");
        radio.type = "radio";
        radio.name = question.id;
        radio.value = String(i);
        label.appendChild(radio);
        label.appendChild(element("span", "quiz-letter", String.fromCharCode(65 + i) + "."));
        var body = element("div", "quiz-choice-text");
        while (choice.firstChild) {
          body.appendChild(choice.firstChild);
        }
        label.appendChild(body);
        choice.appendChild(label);
      });
      read = function () {
        var picked = question.querySelector("input[type=radio]:checked");
        if (!picked) {
          return { message: "Pick an answer first." };
        }
        return { correct: Number(picked.value) === Number(question.dataset.answer) };
      };
    } else {
      var input = element("input", "quiz-input");
      input.type = "text";
      input.inputMode = "decimal";
      input.autocomplete = "off";
      input.placeholder = "e.g. 0.25 or 1.5e-4";
      input.setAttribute("aria-label", "Your answer");
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          check();
        }
      });
      controls.appendChild(input);
      read = function () {
        var x = parseNumber(input.value);
        if (isNaN(x)) {
          return { message: "Type a number, such as 0.25, 1/4 or 1.5e-4." };
        }
        var d = question.dataset;
        return { correct: accepts(x, Number(d.answer), Number(d.relTol), Number(d.absTol)) };
      };
    }
    function check() {
      var result = read();
      question.classList.remove("quiz-correct", "quiz-incorrect");
      if (result.message) {
        feedback.className = "quiz-feedback";
        feedback.textContent = result.message;
        return;
      }
      feedback.className = "quiz-feedback " + (result.correct ? "correct" : "incorrect");
      feedback.textContent = result.correct ? "✓ Correct." : "✗ Not quite: see the explanation below, or try again.";
      question.classList.add(result.correct ? "quiz-correct" : "quiz-incorrect");
      answer.hidden = false;
      answer.open = true;
      onAnswer(question.id, result.correct);
    }
    var button = element("button", "quiz-check", "Check");
    button.type = "button";
    button.addEventListener("click", check);
    controls.appendChild(button);
    controls.appendChild(feedback);
    answer.parentNode.insertBefore(controls, answer);
  }

  function enhance(quiz) {
    if (quiz.classList.contains("quiz-enhanced")) {
      return;
    }
    quiz.classList.add("quiz-enhanced");
    var questions = quiz.querySelectorAll(":scope > .quiz-questions > .quiz-question");
    var score = element("p", "quiz-score");
    score.setAttribute("aria-live", "polite");
    var results = {};
    function update() {
      var ids = Object.keys(results);
      var right = ids.filter(function (id) {
        return results[id];
      }).length;
      score.textContent = ids.length === 0 ? "" : right + " of " + questions.length + " correct (" + ids.length + " answered).";
    }
    questions.forEach(function (question) {
      enhanceQuestion(question, function (id, correct) {
        results[id] = correct;
        update();
      });
    });
    quiz.appendChild(score);
  }

  window.bookQuiz = { parseNumber: parseNumber, accepts: accepts, enhance: enhance };
  function enhanceAll() {
    document.querySelectorAll("div.quiz").forEach(enhance);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhanceAll);
  } else {
    enhanceAll();
  }
})();
