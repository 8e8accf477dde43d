import { render } from "preact";
import { App } from "./App";
import { resume } from "./api";
import "./styles.css";

void resume().finally(() => render(<App />, document.getElementById("app")!));
